"""Registering a request: everything computed before the write, then rows and audit entry in it.

``prepare`` validates and encrypts outside any transaction (the slow part: due dates, keyed hash,
Fernet); ``insert`` writes the request, its encrypted identities and its ``registered`` entry
inside the caller's write transaction. Many registrations share one transaction (bulk intake).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Container, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from connectors.base import EMAIL, Identity
from dsr.keys import KeyRing
from dsr.ledger import audit as _audit
from dsr.ledger.dates import business_due_date, due_date
from dsr.ledger.records import check_registration, new_request_id, normalise_identities, now
from dsr.ledger.schema import RequestType, Scope, State, request_identities, requests
from dsr.times import utc


@dataclass(frozen=True)
class Registration:
    received: datetime
    values: dict[str, Any]  # the request row without its id
    token: bytes  # the encrypted identities and payload
    details: dict[str, Any]  # the registered entry without the id
    verified_by: str | None = None


def prepare(
    keys: KeyRing,
    holidays: Callable[[], Container[date]],
    *,
    type: RequestType,
    scope: Scope,
    identities: Collection[Identity],
    client_id: str | None = None,
    authorization_ref: str | None = None,
    ticket_ref: str | None = None,
    channel: str = "cli",
    received_at: datetime | None = None,
    identity_verified: bool = False,
    payload: Mapping[str, Any] | None = None,
    verified_by: str | None = None,
) -> Registration:
    """``verified_by``: the staff handle who checked the person's identity at intake (then an
    ``identity_verified`` entry follows the ``registered`` one, as ``mark_identity_verified``
    writes it)."""
    rtype, rscope = RequestType(type), Scope(scope)
    refs = check_registration(rscope, client_id, authorization_ref, ticket_ref, channel)
    idents, primary = normalise_identities(identities)
    if received_at is not None and received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    received = utc(received_at) if received_at else now()
    # An opt-out is promised in business days (policy 5.3); everything else in a month.
    due = (
        business_due_date(received, holidays=holidays())
        if rtype is RequestType.OPT_OUT
        else due_date(received)
    )
    subject_hash = keys.keyed_hash(EMAIL, primary)
    secret = {"identities": [[i.kind, i.value] for i in idents], "payload": dict(payload or {})}
    token = keys.encrypt(json.dumps(secret).encode())
    values = dict(type=rtype.value, scope=rscope.value, **refs)
    row = {
        **values,
        "state": State.RECEIVED.value,
        "received_at": received,
        "due_at": due,
        "extension_months": 0,
        "identity_verified": identity_verified or bool(verified_by),
        "subject_hash": subject_hash,
        "channel": channel,
        "result": "{}",
    }
    if verified_by is not None:
        _audit.check_no_personal_data({"by": verified_by}, "verification")
    details = {
        **values,
        "channel": channel,
        "identity_kinds": dict(Counter(i.kind for i in idents)),
        "identity_verified": identity_verified,
        "subject_hash": subject_hash,
        "received_at": received.isoformat(),
        "due_at": due.isoformat(),
    }
    return Registration(received, row, token, details, verified_by)


def insert_request(conn: Connection, reg: Registration) -> str:
    """Write one prepared registration in the caller's (locked) write transaction."""
    request_id = _new_id(conn, reg.received)
    conn.execute(insert(requests).values(request_id=request_id, **reg.values, updated_at=now()))
    conn.execute(insert(request_identities).values(request_id=request_id, token=reg.token))
    _audit.append(conn, request_id, "registered", {"request_id": request_id, **reg.details})
    if reg.verified_by:
        _audit.append(conn, request_id, "identity_verified", {"by": reg.verified_by})
    return request_id


def _new_id(conn: Connection, received: datetime) -> str:
    # Writers are serialised, so checking then inserting cannot race.
    while True:
        candidate = new_request_id(received)
        taken = select(requests.c.request_id).where(requests.c.request_id == candidate)
        if conn.execute(taken).first() is None:
            return candidate
