"""Commands that register a request: access, erase (and its dry run), rectify, opt-out, restrict.

Every check (the person's identities, scope and its options, the Client and its instruction,
the databases) passes before anything is written; a refusal is one line and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dsr.cli.fulfil import Session, submit
from dsr.cli.options import (
    Emails,
    EmailsOrFile,
    FromCsv,
    JsonOpt,
    Queue,
    VerifiedBy,
    person_options,
)
from dsr.cli.output import console, emit_json, fail
from dsr.intake_request import IntakeError, IntakeRequest
from dsr.request_kinds import RequestType, Scope


def _intake(
    type: RequestType,
    email: list[str],
    *,
    phone: list[str] | None = None,
    name: list[str] | None = None,
    scope: Scope,
    client: str | None,
    authorization: str | None,
    ticket: str | None,
    **extra: object,
) -> IntakeRequest:
    return IntakeRequest(
        type=type,
        emails=email,
        phones=phone or [],
        names=name or [],
        scope=scope,
        client_id=client,
        authorization_ref=authorization,
        ticket_ref=ticket,
        channel="cli",
        **extra,  # type: ignore[arg-type]
    )


@person_options(after="email", names=True)
def access(
    email: EmailsOrFile = None,
    portability: Annotated[bool, typer.Option(help="Art. 20 portability request")] = False,
    queue: Queue = False,
    from_csv: FromCsv = None,
    as_json: JsonOpt = False,
    **person: Any,
) -> None:
    """Register an access request and fulfil it: search every region, build the bundle (with
    --from-csv, one request per row, fulfilled in batch runs)."""
    rtype = RequestType.PORTABILITY if portability else RequestType.ACCESS
    intake = _intake(rtype, _emails(email, from_csv, as_json), **person)
    _submit(intake, from_csv, as_json=as_json, queue=queue)


@person_options(after="email", names=True)
def erase(
    email: EmailsOrFile = None,
    verified_by: VerifiedBy = None,
    dry_run: Annotated[bool, typer.Option(help="Show what would change; change nothing")] = False,
    queue: Queue = False,
    from_csv: FromCsv = None,
    as_json: JsonOpt = False,
    **person: Any,
) -> None:
    """Erase the person everywhere, verify, and issue a signed deletion proof (with --from-csv,
    one request per row, fulfilled in batch runs)."""
    if dry_run and from_csv:
        fail("--dry-run previews one person: give --email, not --from-csv", as_json=as_json)
    emails = _emails(email, from_csv, as_json)
    if dry_run:
        for flag, given in (("--queue", queue), ("--verified-by", verified_by)):
            if given:
                fail(
                    f"{flag} does not apply to --dry-run: a dry run registers nothing; leave "
                    f"{flag} out, or drop --dry-run to register the erasure",
                    as_json=as_json,
                )
    intake = _intake(RequestType.ERASURE, emails, verified_by=verified_by, **person)
    if dry_run:
        _dry_run(Session(as_json=as_json), intake, as_json)
        return
    _submit(intake, from_csv, as_json=as_json, queue=queue)


def _emails(email: list[str] | None, from_csv: Path | None, as_json: bool) -> list[str]:
    """The --email values, or none with --from-csv; exactly one of the two."""
    if from_csv is not None:
        if email:
            fail("give --email or --from-csv, not both", as_json=as_json)
        return []
    if not email:
        fail("Missing option '--email' (or --from-csv FILE)", as_json=as_json)
    return email


def _submit(intake: IntakeRequest, from_csv: Path | None, *, as_json: bool, queue: bool) -> None:
    session = Session(as_json=as_json)
    if from_csv is None:
        submit(session, intake, as_json=as_json, queue=queue)
        return
    from dsr.cli.bulk import submit_bulk

    submit_bulk(session, intake, from_csv, as_json=as_json, queue=queue)


def _dry_run(session: Session, intake: IntakeRequest, as_json: bool) -> None:
    from dsr.intake import check_intake
    from dsr.preview import SERVICE_ACTION, dry_run

    connectors = session.connectors(as_json=as_json)
    # The same checks as registration: a preview of a Client's rows shows Client Data, so it
    # needs the Client's instruction too; and it previews by the checked Client id, since a
    # Client's name matches no row.
    try:
        checked = check_intake(
            connectors, intake, default_region=session.settings.default_phone_region
        )
    except IntakeError as exc:
        fail(f"nothing previewed: {exc}", as_json=as_json)
    resources = session.resources
    plan = dry_run(
        resources["crm"],
        resources["integrations"],
        checked.identities,
        scope=intake.scope,
        client_id=checked.client_id,
        hasher=resources["ledger"].key_ring().keyed_hash,
        connectors=connectors,
    )
    if as_json:
        emit_json({"ok": True, "dry_run": True, "plan": plan.plan(), "services": plan.statuses()})
        return
    table = Table(title="dry run: nothing was changed")
    for col in ("system", "table / items", "action", "count", "until", "kept because"):
        table.add_column(col, overflow="fold")
    for region, crm_plan in plan.crm.items():
        if not crm_plan.tables:
            table.add_row(f"crm:{region}", "–", "nothing found", "0", "", "")
        for tp in crm_plan.tables:
            kept = tp.action == "keep"
            table.add_row(
                f"crm:{region}",
                tp.table,
                tp.action,
                str(len(tp.pks)),
                (tp.until or "") if kept else "",
                (tp.legal_basis or "") if kept else "",
            )
    for service in plan.services:
        for kind, n in service.items.items():
            table.add_row(service.system, kind, SERVICE_ACTION, str(n), "", "")
        if not service.items:
            table.add_row(service.system, "–", service.status, "0", "", "")
    console.print(table)


@person_options(after="set_")
def rectify(
    email: Emails,
    set_: Annotated[list[str], typer.Option("--set", help="field=value (repeat)")],
    verified_by: VerifiedBy = None,
    queue: Queue = False,
    as_json: JsonOpt = False,
    **person: Any,
) -> None:
    """Correct the person's data wherever the data map says each field lives."""
    from connectors.crm.rectify import RectifyError, parse_changes

    session = Session(as_json=as_json)
    try:
        changes = parse_changes(
            session.crm.datamap(), set_, default_region=session.settings.default_phone_region
        )
    except RectifyError as exc:
        fail(f"request not registered: {exc}", as_json=as_json)
    payload = {"changes": changes}
    intake = _intake(
        RequestType.RECTIFICATION, email, verified_by=verified_by, payload=payload, **person
    )
    submit(session, intake, as_json=as_json, queue=queue)


@person_options(after="email")
def opt_out(
    email: EmailsOrFile = None,
    queue: Queue = False,
    from_csv: FromCsv = None,
    as_json: JsonOpt = False,
    **person: Any,
) -> None:
    """Stop marketing to the person in every region (due within 10 business days, policy 5.3).

    user_account: iNextCRM's own marketing. client_data: a Client's do-not-market flag on its
    customer, only on the Client's documented instruction (--client, --authorization).
    """
    intake = _intake(RequestType.OPT_OUT, _emails(email, from_csv, as_json), **person)
    _submit(intake, from_csv, as_json=as_json, queue=queue)


@person_options(after="grounds")
def restrict(
    email: Emails,
    grounds: Annotated[
        str,
        typer.Option(
            help="Art. 18(1): accuracy_contested, unlawful_processing, legal_claims or "
            "objection_pending (an Art. 21 objection while it is weighed)"
        ),
    ],
    verified_by: VerifiedBy = None,
    queue: Queue = False,
    as_json: JsonOpt = False,
    **person: Any,
) -> None:
    """Restrict processing of the person's data to storage, in every region (Art. 18)."""
    from pipelines.config import RestrictionGrounds

    if grounds not in {g.value for g in RestrictionGrounds}:
        fail(
            "request not registered: --grounds must be one of "
            + ", ".join(g.value for g in RestrictionGrounds),
            as_json=as_json,
        )
    payload = {"grounds": grounds}
    intake = _intake(
        RequestType.RESTRICTION, email, verified_by=verified_by, payload=payload, **person
    )
    submit(Session(as_json=as_json), intake, as_json=as_json, queue=queue)


__all__ = ["access", "erase", "opt_out", "rectify", "restrict"]
