"""Bulk intake: a list of people becomes one request each, checked row by row, registered in
chunks. The list is a CSV file (``dsr … --from-csv``) or the Launchpad's list form; both become
the same rows, so both get exactly the same checks.

Columns (header row, any order, case-insensitive): ``email`` (required), and optionally
``phone``, ``name``, ``scope``, ``client``, ``authorization``, ``ticket``, ``verified_by``; an
empty cell takes the command's own option (the form's shared field). Every row gets exactly the
checks a single request gets (identities, references, scope and its options, the Client), but
the databases are checked once and each Client once, so 10,000 rows take seconds. A row that
fails a check is rejected with its line number (its position in a list) and the reason and
registers nothing; the valid rows are registered in transactions of ``CHUNK`` (each chunk all
or nothing).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from connectors.crm.sql import CrmSqlConnector
from dsr.intake import (
    CheckedIntake,
    IntakeError,
    IntakeRequest,
    check_client,
    check_databases,
    check_intake_fields,
)
from dsr.ledger import Ledger, RequestRecord, Scope

CHUNK = 500
MAX_ROWS = 100_000
ALIASES = {
    "email": ("email", "e-mail", "e_mail", "mail"),
    "phone": ("phone", "telephone", "mobile"),
    "name": ("name", "full_name", "full name"),
    "scope": ("scope",),
    "client": ("client", "client_id"),
    "authorization": ("authorization", "authorisation", "authorization_ref"),
    "ticket": ("ticket", "ticket_ref"),
    "verified_by": ("verified_by", "verified-by", "verified by"),
}
Progress = Callable[[int, int], None]
# A row: where it came from (the file's line, the list's 1-based position) and its cells.
Row = tuple[int, dict[str, str]]


@dataclass
class BulkResult:
    registered: list[RequestRecord] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def _columns(header: Sequence[str] | None, path: Path) -> dict[str, str]:
    if not header:
        raise IntakeError(f"{path}: no header row (expected at least an 'email' column)")
    found: dict[str, str] = {}
    for raw in header:
        key = raw.strip().lower()
        name = next((n for n, aliases in ALIASES.items() if key in aliases), None)
        if name is None:
            known = ", ".join(ALIASES)
            raise IntakeError(f"{path}: unknown column {raw!r} (columns: {known})")
        found[name] = raw
    if "email" not in found:
        raise IntakeError(f"{path}: no 'email' column: every request needs the person's e-mail")
    return found


def read_rows(path: Path) -> Iterator[Row]:
    """(line number, row by our column names); IntakeError for a file that is not such a CSV."""
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise IntakeError(f"cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        reader = csv.DictReader(fh)
        try:
            columns = _columns(reader.fieldnames, path)
            for n, row in enumerate(reader):
                if n >= MAX_ROWS:
                    raise IntakeError(f"{path}: more than {MAX_ROWS} rows; split the file")
                values = _cells({name: row.get(raw) for name, raw in columns.items()})
                if any(values.values()):
                    yield reader.line_num, values
        except (csv.Error, UnicodeDecodeError) as exc:
            raise IntakeError(f"{path}: not a readable UTF-8 CSV file ({exc})") from None


def numbered_rows(people: Sequence[Mapping[str, str | None]]) -> Iterator[Row]:
    """A list of people (by our column names) as rows numbered from 1. Unlike a file's blank
    line, an empty entry stays: it is a person the list names, and is refused as one."""
    if len(people) > MAX_ROWS:
        raise IntakeError(f"more than {MAX_ROWS} people; split the list")
    unknown = sorted({key for person in people for key in person} - set(ALIASES))
    if unknown:
        raise IntakeError(f"unknown field {unknown[0]!r} (fields: {', '.join(ALIASES)})")
    for position, person in enumerate(people, start=1):
        yield position, _cells(person)


def _cells(values: Mapping[str, str | None]) -> dict[str, str]:
    return {name: (value or "").strip() for name, value in values.items()}


def intake_for(values: dict[str, str], template: IntakeRequest) -> IntakeRequest:
    """The row's request: its own cells, the command's options where a cell is empty."""
    scope = template.scope
    if values.get("scope"):
        try:
            scope = Scope(values["scope"])
        except ValueError:
            raise IntakeError(
                f"scope {values['scope']!r} is not user_account or client_data"
            ) from None
    return replace(
        template,
        emails=[values["email"]],
        phones=[values["phone"]] if values.get("phone") else list(template.phones),
        names=[values["name"]] if values.get("name") else list(template.names),
        scope=scope,
        client_id=values.get("client") or template.client_id,
        authorization_ref=values.get("authorization") or template.authorization_ref,
        ticket_ref=values.get("ticket") or template.ticket_ref,
        verified_by=values.get("verified_by") or template.verified_by,
    )


def check_rows(
    connectors: Sequence[CrmSqlConnector],
    rows: Iterable[Row],
    template: IntakeRequest,
    *,
    default_region: str,
) -> tuple[list[tuple[int, IntakeRequest, CheckedIntake]], list[tuple[int, str]]]:
    check_databases(connectors)  # once for the file: a database that cannot be searched stops all
    # What each Client given resolves to: its id, or why it is refused.
    clients: dict[str, tuple[str | None, str | None]] = {}
    good: list[tuple[int, IntakeRequest, CheckedIntake]] = []
    rejected: list[tuple[int, str]] = []
    for line, values in rows:
        try:
            req = intake_for(values, template)
            checked = check_intake_fields(req, default_region=default_region)
            if checked.client_id:
                if checked.client_id not in clients:
                    try:
                        resolved = check_client(connectors, checked.client_id)
                        clients[checked.client_id] = (resolved, None)
                    except IntakeError as exc:
                        clients[checked.client_id] = (None, str(exc))
                client_id, refusal = clients[checked.client_id]
                if refusal:
                    raise IntakeError(refusal)
                checked = replace(checked, client_id=client_id)
        except IntakeError as exc:
            rejected.append((line, str(exc)))
            continue
        good.append((line, req, checked))
    return good, rejected


def register_rows(
    ledger: Ledger,
    good: Sequence[tuple[int, IntakeRequest, CheckedIntake]],
    progress: Progress | None = None,
) -> list[RequestRecord]:
    records: list[RequestRecord] = []
    for start in range(0, len(good), CHUNK):
        chunk = good[start : start + CHUNK]
        records += ledger.register_many([_fields(req, checked) for _, req, checked in chunk])
        if progress:
            progress(start + len(chunk), len(good))
    return records


def _fields(req: IntakeRequest, checked: CheckedIntake) -> dict[str, Any]:
    return {
        "type": req.type,
        "scope": req.scope,
        "identities": checked.identities,
        "client_id": checked.client_id,
        "authorization_ref": checked.authorization_ref,
        "ticket_ref": checked.ticket_ref,
        "channel": req.channel,
        "verified_by": checked.verified_by,
        "payload": dict(req.payload),
    }
