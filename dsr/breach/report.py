"""The breach report: the one place the affected people's identities are written down.

Its purpose is notification, so it must name them (Art. 33(3), 34): per Client, the people that
Client has to notify, with its name and contact; for iNextCRM, its own Users, subscribers and
visitors. Three files in one folder of the export store (EU data: the EU store), readable by
their owner only:

- ``report.json`` — everything, machine-readable (the authoritative file; its SHA-256 goes to the
  audit log and the Dagster run);
- ``affected.csv`` — one line per person and notifier, for a mail merge;
- ``summary.html`` — counts per Client and table, and what the report cannot see
  (``templates/breach_summary.html.j2``).

This module says what the files hold, in pieces that can be written as the people arrive;
``writer`` writes them. Clients are in region order, then in the database's order of their
tenant ids; people in order of their first e-mail address, phone, then other ids; every JSON
object with sorted keys: the same data gives the same bytes.

Everything outside these files (logs, metadata, audit) carries ``BreachImpact.counts()`` only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from dsr.breach.model import AffectedPerson, BreachImpact, ClientImpact

REPORT_JSON, REPORT_CSV, REPORT_HTML = "report.json", "affected.csv", "summary.html"
CSV_FIELDS = (
    "notifier",
    "region",
    "client_id",
    "client_name",
    "emails",
    "phones",
    "names",
    "other_ids",
    "tables",
    "rows",
    "mentions",
    "contactable",
)
_TEMPLATES = Path(__file__).parent / "templates"


def _person(p: AffectedPerson) -> dict[str, Any]:
    return {
        "emails": p.emails,
        "phones": p.phones,
        "names": p.names,
        "other_ids": p.other_ids,
        "rows": p.rows,
        "mentions": p.mentions,
        "regions": p.regions,
        "clients": p.clients,
        "contactable": p.contactable,
    }


def _head(impact: BreachImpact) -> dict[str, Any]:
    """The report without the people: what the summary shows."""
    return {
        "breach_id": impact.breach_id,
        "generated_at": impact.generated_at.isoformat(),
        "query": {
            "tables": list(impact.query.tables),
            "regions": list(impact.query.regions),
            **impact.query.window.iso(),
        },
        "counts": impact.counts(),
        "backups_in_window": [
            {
                "backup_id": b.backup_id,
                "region": b.region,
                "created_at": b.created_at.isoformat(),
                "expires_at": b.expires_at.isoformat(),
                "missing_rows": b.missing_rows,
            }
            for b in impact.backups
        ],
        "limitations": limitations(impact),
    }


def _client_head(c: ClientImpact) -> dict[str, Any]:
    return {
        "region": c.region,
        "client_id": c.client_id,
        "name": c.name,
        "contact": c.contact,
        "rows": c.rows,
        "people_count": c.people_count,
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# report.json is {head keys..., "clients": [...], "inextcrm": {...}}, written in this order.


def head_chunks(impact: BreachImpact) -> Iterator[str]:
    """Up to the opening of the Clients' array: needs every count, so it is written last."""
    yield "{\n"
    for key, value in _head(impact).items():
        yield f"{_dumps(key)}: {_dumps(value)},\n"
    yield '"clients": ['


def client_chunks(first: bool, c: ClientImpact, people: list[AffectedPerson]) -> Iterator[str]:
    yield ("" if first else ",") + "\n" + _dumps(_client_head(c))[:-1] + ', "people": ['
    yield from _people_chunks(people)
    yield "\n]}"


def inextcrm_chunks(rows: dict[str, int], people: list[AffectedPerson]) -> Iterator[str]:
    """From the end of the Clients' array to the end of the document."""
    yield '\n],\n"inextcrm": {"rows": ' + _dumps(rows) + ', "people": ['
    yield from _people_chunks(people)
    yield "\n]}\n}\n"


def _people_chunks(people: list[AffectedPerson]) -> Iterator[str]:
    for j, p in enumerate(people):
        yield ("," if j else "") + "\n  " + _dumps(_person(p))


def limitations(impact: BreachImpact) -> list[str]:
    notes = [
        "Rows are counted when they were recorded before the window's end and still exist; "
        "rows deleted since are not in the live databases and their people are not listed.",
        "Names written in free text are not resolved to people (namesakes cannot be told "
        "apart); e-mail addresses and phone numbers written in free text are.",
    ]
    if impact.untimed_tables:
        notes.append(
            "No time column in the data map, every row counted: " + ", ".join(impact.untimed_tables)
        )
    for b in impact.backups:
        if b.missing_rows:
            shown = ", ".join(f"{t} {n}" for t, n in sorted(b.missing_rows.items()))
            notes.append(
                f"Backup {b.backup_id} ({b.region}, taken in the window, expires "
                f"{b.expires_at:%Y-%m-%d}) holds rows the live database no longer has: {shown}. "
                "Restore it with `dsr restore-backup` (erasures are re-applied) and run the "
                "query against the copy to identify them."
            )
    if impact.erasures_since:
        notes.append(
            f"{impact.erasures_since} erasure(s) ran since the window began; those people's data "
            "may have been exposed and is not listed (it is gone, and backups stay beyond use)."
        )
    for purge in impact.purged_clients:
        notes.append(
            f"Closed Client {purge['client_id']} ({purge['region']}) had its data purged since the "
            f"window began (request {purge['request_id']}): its rows are gone and not counted "
            "above, but it may still need notifying as the controller of what was exposed."
        )
    return notes


def _cell(value: Any) -> Any:
    # A spreadsheet runs a cell that starts like a formula; identities come from CRM users' input.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def client_csv_rows(c: ClientImpact, people: list[AffectedPerson]) -> Iterator[dict[str, Any]]:
    for p in people:
        yield _csv_row("client", c.region, c.client_id, c.name or "", p)


def inextcrm_csv_rows(people: list[AffectedPerson]) -> Iterator[dict[str, Any]]:
    for p in people:
        yield _csv_row("inextcrm", "; ".join(p.regions), "; ".join(p.clients), "", p)


def _csv_row(notifier: str, region: str, cid: str, cname: str, p: AffectedPerson) -> dict[str, Any]:
    line = {
        "notifier": notifier,
        "region": region,
        "client_id": cid,
        "client_name": cname,
        "emails": "; ".join(p.emails),
        "phones": "; ".join(p.phones),
        "names": "; ".join(p.names),
        "other_ids": "; ".join(f"{k}={v}" for k, vs in p.other_ids.items() for v in vs),
        "tables": "; ".join(sorted(p.tables())),
        "rows": sum(p.rows.values()),
        "mentions": sum(p.mentions.values()),
        "contactable": "yes" if p.contactable else "no",
    }
    # Phones are E.164 (a "+" and digits only): nothing a spreadsheet would run.
    return {k: v if k == "phones" else _cell(v) for k, v in line.items()}


def summary_html(impact: BreachImpact) -> str:
    head = _head(impact)
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    return env.get_template("breach_summary.html.j2").render(
        d=head, c=head["counts"], clients=[_client_head(c) for c in impact.clients]
    )
