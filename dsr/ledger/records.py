"""What the ledger hands out: request records, its errors, and the checks on what comes in."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import EMAIL, Identity
from dsr.ledger.audit import check_no_personal_data
from dsr.ledger.schema import CHANNELS, RequestType, Scope, State
from dsr.times import utc

REQUEST_ID_PATTERN = re.compile(r"\Ar-[0-9]{8}-[0-9a-f]{8}\Z")
OPEN_STATES = frozenset({State.RECEIVED, State.IN_PROGRESS, State.FAILED})
ALLOWED = {
    State.RECEIVED: frozenset({State.IN_PROGRESS, State.REFUSED}),
    State.IN_PROGRESS: frozenset({State.FULFILLED, State.FAILED, State.REFUSED}),
    State.FAILED: frozenset({State.IN_PROGRESS}),
}


class LedgerError(Exception):
    pass


class UnknownRequest(LedgerError):
    pass


class InvalidTransition(LedgerError):
    pass


class RequestRefused(LedgerError):
    pass


class IdentitiesForgotten(LedgerError):
    pass


@dataclass(frozen=True)
class RequestRecord:
    request_id: str
    type: RequestType
    scope: Scope
    client_id: str | None
    authorization_ref: str | None
    ticket_ref: str | None
    state: State
    received_at: datetime
    due_at: datetime
    extension_reason: str | None
    identity_verified: bool
    subject_hash: str
    channel: str
    result: dict[str, Any]
    failure_reason: str | None
    updated_at: datetime
    extension_months: int = 0


def now() -> datetime:
    return datetime.now(UTC)


def clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def record_from_row(row: Any) -> RequestRecord:
    return RequestRecord(
        request_id=row.request_id,
        type=RequestType(row.type),
        scope=Scope(row.scope),
        client_id=row.client_id,
        authorization_ref=row.authorization_ref,
        ticket_ref=row.ticket_ref,
        state=State(row.state),
        received_at=utc(row.received_at),
        due_at=utc(row.due_at),
        extension_reason=row.extension_reason,
        identity_verified=bool(row.identity_verified),
        subject_hash=row.subject_hash,
        channel=row.channel,
        result=json.loads(row.result or "{}"),
        failure_reason=row.failure_reason,
        updated_at=utc(row.updated_at),
        extension_months=row.extension_months,
    )


def check_request_id(request_id: str) -> str:
    if not isinstance(request_id, str) or not REQUEST_ID_PATTERN.match(request_id):
        # The bad value is not echoed: a mistyped field may well hold an e-mail address.
        raise UnknownRequest("not a request id: expected the form r-YYYYMMDD-xxxxxxxx (8 hex)")
    return request_id


# A request about an account rather than a person given by e-mail (a retention purge of a
# closed Client): its identity is the account, e.g. Identity("account", "client:us:42").
ACCOUNT = "account"


def normalise_identities(identities: Collection[Identity]) -> tuple[list[Identity], str]:
    """Validated, de-duplicated identities and the primary e-mail.

    The primary e-mail is the first e-mail of an ordered collection (list, tuple), or the
    smallest of an unordered one, so the same request always gets the same subject hash.
    A request with no e-mail needs an ``account`` identity; its primary is then
    ``"account" U+001F <smallest account value>``, which no e-mail address can equal, so its
    subject hash (``keyed_hash("email", primary)``) is stable and never collides with a person's.
    """
    # Loaded when a request is registered (e-mail validation), not by every reader of records.
    from connectors.identities import normalise_email

    cleaned: list[Identity] = []
    for ident in identities:
        if not isinstance(ident, Identity) or not isinstance(ident.value, str):
            raise TypeError("identities must be connectors.base.Identity values")
        value = normalise_email(ident.value) if ident.kind == EMAIL else ident.value.strip()
        if not value:
            raise ValueError(f"an identity of kind {ident.kind!r} is empty")
        cleaned.append(Identity(ident.kind, value))
    emails = [i.value for i in cleaned if i.kind == EMAIL]
    accounts = [i.value for i in cleaned if i.kind == ACCOUNT]
    if not emails and accounts:
        return sorted(set(cleaned)), f"{ACCOUNT}\x1f{min(accounts)}"
    if not emails:
        raise ValueError("a request needs at least one e-mail identity")
    primary = emails[0] if isinstance(identities, Sequence) else min(emails)
    return sorted(set(cleaned)), primary


def new_request_id(received: datetime) -> str:
    return f"r-{received:%Y%m%d}-{secrets.token_hex(4)}"


def check_transition(request_id: str, current: State, target: State) -> None:
    if target not in ALLOWED.get(current, frozenset()):
        allowed = ", ".join(sorted(ALLOWED.get(current, ()))) or "nothing (it is closed)"
        raise InvalidTransition(
            f"{request_id} is {current.value}: it cannot become {target.value} (allowed: {allowed})"
        )


def check_liftable(record: RequestRecord) -> None:
    """Only a fulfilled restriction can be lifted, and only once."""
    rid = record.request_id
    if record.type is not RequestType.RESTRICTION:
        kind = record.type.value.replace("_", "-")
        article = "an" if kind[0] in "aeiou" else "a"
        raise InvalidTransition(f"{rid} is not a restriction but {article} {kind} request")
    if record.state is State.LIFTED:
        raise InvalidTransition(f"{rid} was already lifted")
    if record.state is not State.FULFILLED:
        raise InvalidTransition(
            f"{rid} is {record.state.value}: only a fulfilled restriction can be lifted"
        )


def check_lift_reasons(reason: str, notified_via: str, by: str) -> dict[str, str]:
    """Art. 18(3): why, how the person was told beforehand, and who lifts it; no personal data."""
    given = {"reason": reason, "notified_via": notified_via, "by": by}
    cleaned = {key: (value or "").strip() for key, value in given.items()}
    if not cleaned["reason"]:
        raise ValueError("a lift needs a recorded reason")
    if not cleaned["notified_via"]:
        raise ValueError(
            "say how the person was told before the restriction is lifted (GDPR Art. 18(3)), "
            "e.g. a ticket reply reference"
        )
    if not cleaned["by"]:
        raise ValueError("say who lifts the restriction (a staff handle, not an e-mail)")
    check_no_personal_data(cleaned, "lift")
    return cleaned


def check_registration(
    scope: Scope,
    client_id: str | None,
    authorization_ref: str | None,
    ticket_ref: str | None,
    channel: str,
) -> dict[str, str | None]:
    """The cleaned references of a new request; refuses a Client Data request without mandate."""
    refs = {
        "client_id": clean(client_id),
        "authorization_ref": clean(authorization_ref),
        "ticket_ref": clean(ticket_ref),
    }
    missing = [name for name in ("client_id", "authorization_ref") if not refs[name]]
    if scope is Scope.CLIENT_DATA and missing:
        raise RequestRefused(
            "refused: for Client Data iNextCRM is only a processor and acts only on the "
            "Client's documented instruction, inside that Client's tenant. Supply client_id "
            "(the Client's tenant) and authorization_ref (a reference to the Client's written "
            f"instruction); missing: {', '.join(missing)}"
        )
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
    # They go into the audit log, which is never erased.
    check_no_personal_data(refs, "register")
    return refs
