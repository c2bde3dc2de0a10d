"""Intake: the one place a request enters, from the Launchpad or the CLI.

Everything is checked before anything is written: a bad e-mail, an unknown Client, a
``client_data`` request without the Client's authorisation or a data map that does not fit a
database each raise ``IntakeError`` with a message saying what is wrong and what to do, and leave
no ledger entry behind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from connectors.base import EMAIL, NAME, PHONE, Identity
from connectors.crm.datamap import DataMapError
from connectors.crm.sql import CrmSqlConnector
from connectors.identities import InvalidIdentity, parse_identity
from dsr.clients import resolve_client
from dsr.intake_request import IntakeError, IntakeRequest
from dsr.ledger import Ledger, RequestRecord, RequestRefused
from dsr.request_kinds import Scope

_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/#\-]{1,99}$")


def parse_identities(
    emails: Sequence[str],
    phones: Sequence[str] = (),
    names: Sequence[str] = (),
    *,
    default_region: str = "US",
) -> set[Identity]:
    emails = [e for e in emails if e is not None]
    if not any(str(e).strip() for e in emails):
        raise IntakeError("at least one e-mail address is required to identify the person")
    identities: set[Identity] = set()
    for kind, label, values in (
        (EMAIL, "e-mail", emails),
        (PHONE, "phone", phones),
        (NAME, "name", names),
    ):
        for i, raw in enumerate(values, start=1):
            if kind != EMAIL and not str(raw).strip():
                continue
            try:
                identities.add(parse_identity(kind, raw, default_region))
            except InvalidIdentity as exc:
                position = f" #{i}" if len(values) > 1 else ""
                raise IntakeError(f"{label}{position}: {exc}") from None
    return identities


def _check_reference(label: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not _REFERENCE.match(value) or "@" in value:
        raise IntakeError(
            f"{label} must be 2-100 characters of letters, digits, spaces and . _ : / # - "
            "(a reference, never personal data)"
        )
    return value


def check_databases(connectors: Sequence[CrmSqlConnector]) -> None:
    for connector in connectors:
        try:
            connector.validate()
        except DataMapError as exc:
            raise IntakeError(
                f"CRM database {connector.region!r} cannot be searched: {exc}. "
                "Fix the data map or the database URL before accepting requests."
            ) from None


def check_client(connectors: Sequence[CrmSqlConnector], client: str) -> str:
    """The id of the Client ``client`` names (its id or its name); an unknown Client is an
    error naming the closest names."""
    return resolve_client(connectors, client).client_id


def _check_scope(scope: Scope, client_id: str | None, authorization: str | None) -> None:
    """A Client's id and instruction belong to client_data; anywhere else they would be ignored."""
    if scope != Scope.CLIENT_DATA:
        if client_id or authorization:
            raise IntakeError(
                "a client id and an authorisation reference apply only to scope client_data: "
                "choose scope client_data for a request about a Client's data (--scope "
                "client_data), or leave them out for the person's own account"
            )
        return
    if not client_id:
        raise IntakeError(
            "a client_data request needs the Client's id: iNextCRM acts on Client Data only "
            "inside that Client's tenant"
        )
    if not authorization:
        raise IntakeError(
            "a client_data request needs the Client's authorisation reference (their "
            "documented instruction): iNextCRM is only the processor of Client Data "
            "(policy 2.2, 15). Ask the Client for it, or use scope user_account."
        )


@dataclass(frozen=True)
class CheckedIntake:
    """A request that passed every check; what registration writes."""

    identities: set[Identity]
    client_id: str | None
    authorization_ref: str | None
    ticket_ref: str | None
    verified_by: str | None


def check_intake_fields(req: IntakeRequest, *, default_region: str = "US") -> CheckedIntake:
    """The checks of the request itself, without a database (bulk intake checks those once)."""
    identities = parse_identities(req.emails, req.phones, req.names, default_region=default_region)
    checked = CheckedIntake(
        identities=identities,
        client_id=_check_reference("client", req.client_id),
        authorization_ref=_check_reference("authorisation reference", req.authorization_ref),
        ticket_ref=_check_reference("ticket reference", req.ticket_ref),
        verified_by=_check_reference("identity verified by", req.verified_by),
    )
    _check_scope(req.scope, checked.client_id, checked.authorization_ref)
    return checked


def check_intake(
    connectors: Sequence[CrmSqlConnector], req: IntakeRequest, *, default_region: str = "US"
) -> CheckedIntake:
    """Every check registration makes, without writing anything (IntakeError says what to fix)."""
    checked = check_intake_fields(req, default_region=default_region)
    check_databases(connectors)
    if checked.client_id:
        checked = replace(checked, client_id=check_client(connectors, checked.client_id))
    return checked


def register_request(
    ledger: Ledger,
    connectors: Sequence[CrmSqlConnector],
    req: IntakeRequest,
    *,
    default_region: str = "US",
    checked: CheckedIntake | None = None,
) -> RequestRecord:
    """Check (unless ``checked`` is the result of ``check_intake`` for ``req``) and register."""
    checked = checked or check_intake(connectors, req, default_region=default_region)
    try:
        record = ledger.register(
            type=req.type,
            scope=req.scope,
            identities=checked.identities,
            client_id=checked.client_id,
            authorization_ref=checked.authorization_ref,
            ticket_ref=checked.ticket_ref,
            channel=req.channel,
            payload=req.payload,
        )
    except RequestRefused as exc:
        raise IntakeError(str(exc)) from None
    if checked.verified_by:
        record = ledger.mark_identity_verified(record.request_id, by=checked.verified_by)
    return record
