"""The append-only, hash-chained audit log (accountability, GDPR Art. 5(2)).

Each entry's hash covers its own content and the previous entry's hash, so changing, inserting or
removing an entry breaks every later link. The database refuses UPDATE and DELETE (triggers, see
``schema``); the chain catches what someone with file or owner access does anyway.

Entries must never carry personal data — the log cannot be erased, so anything put in it would
outlive the subject's erasure. ``check_no_personal_data`` is the guard; ``redact`` is for text
that comes from elsewhere (error messages) and must be kept even when it mentions someone.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from dsr.ledger.schema import GENESIS_HASH, audit_chain_head, audit_log

_EMAIL_HINT = re.compile(r"@[^\s@]*\.[^\s@]")
_EMAIL_TOKEN = re.compile(r"[^\s@<>\"'(),;]*@[^\s@<>\"'(),;]*\.[^\s@<>\"'(),;]+")
# Tokens that are digit-heavy but ours and harmless: request ids and ISO-8601 timestamps. They
# are matched first so that their digits are never taken for a phone number.
_SAFE = (
    r"r-[0-9]{8}-[0-9a-f]{8}"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)
# Nine digits or more, optionally separated like a phone; not part of a longer word, so digit runs
# inside hex hashes and identifiers do not count. Shorter local numbers slip through by design:
# dates, years and versions would otherwise trip it, and details are meant to be ids and counts.
_PHONE = r"(?<!\w)\+?[0-9](?:[ ().\-/]{0,2}[0-9]){8,}(?!\w)"
_SCAN = re.compile(f"(?P<safe>{_SAFE})|(?P<phone>{_PHONE})")
# Keys that declare their value an identifier of ours: tenant ids, row keys, ticket references.
_IDENTIFIER_KEY = re.compile(r"(?:^|_)(?:id|ids|pk|pks|ref|refs)$", re.IGNORECASE)
_EVENT = re.compile(r"\A[a-z][a-z0-9_.:-]{0,63}\Z")


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    request_id: str | None
    at: datetime
    event: str
    details: dict[str, Any]
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None


def _looks_personal(text: str, identifier: bool = False) -> str | None:
    if _EMAIL_HINT.search(text):
        return "an e-mail address"
    if not identifier and any(m.group("phone") for m in _SCAN.finditer(text)):
        return "a phone number (a long run of digits)"
    return None


def _walk(value: Any, path: str, identifier: bool = False) -> Iterator[tuple[str, str, bool]]:
    if isinstance(value, str):
        yield path, value, identifier
    elif isinstance(value, Mapping):
        for key, item in value.items():
            # Keys too: {"<e-mail>": 3} is the classic way a count leaks who it was about.
            # Checked before the value, so a personal key raises before it can reach a path.
            yield f"{path} key", str(key), False
            named_id = identifier or bool(_IDENTIFIER_KEY.search(str(key)))
            yield from _walk(item, f"{path}[{key!r}]", named_id)
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]", identifier)


def check_no_personal_data(details: Mapping[str, Any], what: str = "details") -> None:
    """ValueError if any string in ``details`` looks like an e-mail or phone number.

    Values under a key that names an identifier (``client_id``, ``row_ids``, ``ticket_ref``,
    ``pk``...) may be long digit runs — tenant and row ids are — but never e-mail addresses.
    The message names where, never the value: it is likely to end up in a log.
    """
    for path, text, identifier in _walk(details, what):
        found = _looks_personal(text, identifier)
        if found:
            raise ValueError(
                f"{path} looks like {found}; audit entries must not hold personal data "
                "(use request ids, counts and keyed hashes)"
            )


def redact(text: str) -> str:
    """``text`` with e-mail addresses and phone-like digit runs replaced by ``<redacted>``."""
    text = _EMAIL_TOKEN.sub("<redacted>", text)
    return _SCAN.sub(lambda m: m.group(0) if m.group("safe") else "<redacted>", text)


def canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_hash(
    *,
    seq: int,
    request_id: str | None,
    at: str,
    event: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    payload = {
        "seq": seq,
        "request_id": request_id,
        "at": at,
        "event": event,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def append(
    conn: Connection, request_id: str | None, event: str, details: Mapping[str, Any]
) -> AuditEntry:
    """Append one entry inside the caller's write transaction (which holds the chain lock)."""
    if not _EVENT.match(event or ""):
        raise ValueError("event must be 1-64 lower-case letters, digits or _.:- and start a-z")
    check_no_personal_data(details)
    # Round-trip through canonical JSON so that what is hashed is exactly what is stored.
    text = canonical_json(dict(details))
    stored: dict[str, Any] = json.loads(text)
    head = conn.execute(
        select(audit_chain_head.c.last_seq, audit_chain_head.c.last_hash)
        .where(audit_chain_head.c.id == 1)
        .with_for_update()
    ).one()
    seq = head.last_seq + 1
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    digest = entry_hash(
        seq=seq, request_id=request_id, at=at, event=event, details=stored, prev_hash=head.last_hash
    )
    conn.execute(
        insert(audit_log).values(
            seq=seq,
            request_id=request_id,
            at=at,
            event=event,
            details=text,
            prev_hash=head.last_hash,
            entry_hash=digest,
        )
    )
    conn.execute(
        update(audit_chain_head)
        .where(audit_chain_head.c.id == 1)
        .values(last_seq=seq, last_hash=digest)
    )
    return AuditEntry(
        seq, request_id, datetime.fromisoformat(at), event, stored, head.last_hash, digest
    )


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        request_id=row.request_id,
        at=datetime.fromisoformat(row.at),
        event=row.event,
        details=json.loads(row.details),
        prev_hash=row.prev_hash,
        entry_hash=row.entry_hash,
    )


def entries(conn: Connection, request_id: str | None = None) -> list[AuditEntry]:
    query = select(audit_log).order_by(audit_log.c.seq)
    if request_id is not None:
        query = query.where(audit_log.c.request_id == request_id)
    return [_entry(row) for row in conn.execute(query)]


def _problem(row: Any, expected_seq: int, prev: str) -> str | None:
    if row.seq != expected_seq:
        return f"entry {expected_seq} has seq {row.seq}: an entry is missing or was inserted"
    if row.prev_hash != prev:
        return f"entry {row.seq} does not link to the entry before it"
    try:
        details = json.loads(row.details)
        datetime.fromisoformat(row.at)
    except (TypeError, ValueError):
        return f"entry {row.seq} is not well-formed"
    expected = entry_hash(
        seq=row.seq,
        request_id=row.request_id,
        at=row.at,
        event=row.event,
        details=details,
        prev_hash=row.prev_hash,
    )
    if row.entry_hash != expected:
        return f"entry {row.seq} was altered: its hash does not match its content"
    return None


def verify(conn: Connection, after: tuple[int, str] | None = None) -> ChainReport:
    """Recompute every hash and link, in order, and compare the end with the chain head.

    ``after`` = (seq, entry_hash) of an entry already verified: only the entries after it are
    walked (a process that verified the chain once checks what others appended since).
    """
    count, prev = after if after is not None else (0, GENESIS_HASH)
    # Statement options: Connection.execution_options would change the caller's connection.
    rows = conn.execute(
        select(audit_log)
        .where(audit_log.c.seq > count)
        .order_by(audit_log.c.seq)
        .execution_options(stream_results=True, yield_per=1000)
    )
    with rows:  # an early return must still close the server-side cursor
        for row in rows:
            count += 1
            problem = _problem(row, count, prev)
            if problem:
                return ChainReport(ok=False, entries=count, first_bad_seq=row.seq, problem=problem)
            prev = row.entry_hash
    head = conn.execute(
        select(audit_chain_head.c.last_seq, audit_chain_head.c.last_hash).where(
            audit_chain_head.c.id == 1
        )
    ).first()
    if head is None:
        return ChainReport(False, count, None, "the chain head is missing")
    if (head.last_seq, head.last_hash) != (count, prev):
        return ChainReport(
            False,
            count,
            min(head.last_seq, count) + 1 if head.last_seq != count else count,
            f"the chain ends at entry {count} but its head records entry {head.last_seq} "
            "with another hash: entries were removed from the end, or the head was altered",
        )
    return ChainReport(ok=True, entries=count)


def state_from_entries(entries: list[AuditEntry]) -> str | None:
    """The state a request's own audit entries say it is in (None before it was registered)."""
    state = None
    for entry in entries:
        if entry.event == "registered":
            state = "received"
        elif entry.event == "claimed":
            state = "in_progress"
        elif entry.event == "state_changed":
            state = str(entry.details.get("to"))
    return state


def entry_at(conn: Connection, seq: int) -> AuditEntry | None:
    row = conn.execute(select(audit_log).where(audit_log.c.seq == seq)).first()
    return None if row is None else _entry(row)
