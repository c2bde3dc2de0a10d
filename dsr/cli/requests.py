"""Request commands: access, erase, rectify, run, verify-identity, extend, status."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dsr.cli.fulfil import CLOSED_STATES, Session, finish_if_needed, report, run_request, submit
from dsr.cli.output import console, emit_json, fail
from dsr.intake import IntakeError, IntakeRequest
from dsr.ledger import LedgerError, RequestType, Scope

Emails = Annotated[list[str], typer.Option("--email", "-e", help="The person's e-mail (repeat)")]
Phones = Annotated[list[str] | None, typer.Option("--phone", help="Phone number, any format")]
Names = Annotated[list[str] | None, typer.Option("--name", help="Full name (finds mentions)")]
ScopeOpt = Annotated[Scope, typer.Option(help="user_account or client_data")]
Client = Annotated[str | None, typer.Option("--client", help="Client id (client_data scope)")]
Authz = Annotated[
    str | None, typer.Option("--authorization", help="Client's authorisation ref (client_data)")
]
Ticket = Annotated[str | None, typer.Option("--ticket", help="Support ticket reference")]
Queue = Annotated[bool, typer.Option(help="Only register; the Dagster sensor launches the run")]
VerifiedBy = Annotated[
    str | None,
    typer.Option("--verified-by", help="Staff handle who verified the person's identity"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def _intake(
    type: RequestType,
    email: list[str],
    phone: list[str] | None,
    name: list[str] | None,
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


def access(
    email: Emails,
    phone: Phones = None,
    name: Names = None,
    scope: ScopeOpt = Scope.USER_ACCOUNT,
    client: Client = None,
    authorization: Authz = None,
    ticket: Ticket = None,
    portability: Annotated[bool, typer.Option(help="Art. 20 portability request")] = False,
    queue: Queue = False,
    as_json: JsonOpt = False,
) -> None:
    """Register an access request and fulfil it: search every region, build the bundle."""
    rtype = RequestType.PORTABILITY if portability else RequestType.ACCESS
    intake = _intake(rtype, email, phone, name, scope, client, authorization, ticket)
    submit(Session(), intake, as_json=as_json, queue=queue)


def erase(
    email: Emails,
    phone: Phones = None,
    name: Names = None,
    scope: ScopeOpt = Scope.USER_ACCOUNT,
    client: Client = None,
    authorization: Authz = None,
    ticket: Ticket = None,
    verified_by: VerifiedBy = None,
    dry_run: Annotated[bool, typer.Option(help="Show what would change; change nothing")] = False,
    queue: Queue = False,
    as_json: JsonOpt = False,
) -> None:
    """Erase the person everywhere, verify, and issue a signed deletion proof."""
    session = Session()
    intake = _intake(
        RequestType.ERASURE,
        email,
        phone,
        name,
        scope,
        client,
        authorization,
        ticket,
        verified_by=verified_by,
    )
    if dry_run:
        _dry_run(session, intake, as_json)
        return
    submit(session, intake, as_json=as_json, queue=queue)


def _dry_run(session: Session, intake: IntakeRequest, as_json: bool) -> None:
    from dsr.intake import check_preview
    from dsr.preview import preview_erasure

    connectors = session.connectors(as_json=as_json)
    try:
        identities = check_preview(
            connectors, intake, default_region=session.settings.default_phone_region
        )
    except IntakeError as exc:
        fail(f"nothing previewed: {exc}", as_json=as_json)
    plans = preview_erasure(
        connectors,
        identities,
        scope=intake.scope,
        client_id=intake.client_id,
        hasher=session.resources["ledger"].key_ring().keyed_hash,
    )
    if as_json:
        emit_json(
            {
                "ok": True,
                "dry_run": True,
                "plan": {f"crm:{r}": p.counts() for r, p in plans.items()},
            }
        )
        return
    table = Table(title="dry run: nothing was changed")
    for col in ("system:region", "table", "action", "rows", "until", "kept because"):
        table.add_column(col, overflow="fold")
    for region, plan in plans.items():
        for tp in plan.tables:
            kept = tp.action == "keep"
            table.add_row(
                f"crm:{region}",
                tp.table,
                tp.action,
                str(len(tp.pks)),
                (tp.until or "") if kept else "",
                (tp.legal_basis or "") if kept else "",
            )
    console.print(table)


def rectify(
    email: Emails,
    set_: Annotated[list[str], typer.Option("--set", help="field=value (repeat)")],
    phone: Phones = None,
    scope: ScopeOpt = Scope.USER_ACCOUNT,
    client: Client = None,
    authorization: Authz = None,
    ticket: Ticket = None,
    verified_by: VerifiedBy = None,
    queue: Queue = False,
    as_json: JsonOpt = False,
) -> None:
    """Correct the person's data wherever the data map says each field lives."""
    from connectors.crm_rectify import RectifyError, parse_changes

    session = Session()
    try:
        changes = parse_changes(
            session.crm.datamap(), set_, default_region=session.settings.default_phone_region
        )
    except RectifyError as exc:
        fail(f"request not registered: {exc}", as_json=as_json)
    intake = _intake(
        RequestType.RECTIFICATION,
        email,
        phone,
        None,
        scope,
        client,
        authorization,
        ticket,
        verified_by=verified_by,
        payload={"changes": changes},
    )
    submit(session, intake, as_json=as_json, queue=queue)


def opt_out(
    email: Emails,
    phone: Phones = None,
    scope: ScopeOpt = Scope.USER_ACCOUNT,
    client: Client = None,
    authorization: Authz = None,
    ticket: Ticket = None,
    queue: Queue = False,
    as_json: JsonOpt = False,
) -> None:
    """Stop marketing to the person in every region (due within 10 business days, policy 5.3).

    user_account: iNextCRM's own marketing. client_data: a Client's do-not-market flag on its
    customer, only on the Client's documented instruction (--client, --authorization).
    """
    intake = _intake(RequestType.OPT_OUT, email, phone, None, scope, client, authorization, ticket)
    submit(Session(), intake, as_json=as_json, queue=queue)


def restrict(
    email: Emails,
    grounds: Annotated[
        str,
        typer.Option(
            help="Art. 18(1): accuracy_contested, unlawful_processing, legal_claims or "
            "objection_pending (an Art. 21 objection while it is weighed)"
        ),
    ],
    phone: Phones = None,
    scope: ScopeOpt = Scope.USER_ACCOUNT,
    client: Client = None,
    authorization: Authz = None,
    ticket: Ticket = None,
    verified_by: VerifiedBy = None,
    queue: Queue = False,
    as_json: JsonOpt = False,
) -> None:
    """Restrict processing of the person's data to storage, in every region (Art. 18)."""
    from pipelines.config import RestrictionGrounds

    if grounds not in {g.value for g in RestrictionGrounds}:
        fail(
            "request not registered: --grounds must be one of "
            + ", ".join(g.value for g in RestrictionGrounds),
            as_json=as_json,
        )
    intake = _intake(
        RequestType.RESTRICTION,
        email,
        phone,
        None,
        scope,
        client,
        authorization,
        ticket,
        verified_by=verified_by,
        payload={"grounds": grounds},
    )
    submit(Session(), intake, as_json=as_json, queue=queue)


def run(request_id: str, as_json: JsonOpt = False) -> None:
    """Run a registered request, resume one a crash or a failure stopped, or finish the cleanup
    of one that is fulfilled; refused while another run is working on it."""
    from pipelines.launch import instance_for
    from pipelines.request_lease import live_holder
    from pipelines.request_state import launch_blocker

    session = Session()
    try:
        record = session.ledger.get(request_id)
    except LedgerError as exc:
        fail(str(exc), as_json=as_json)
    blocker = launch_blocker(record)
    if blocker:
        fail(blocker, as_json=as_json)
    instance = instance_for(session.settings)
    if record.state in CLOSED_STATES:
        finish_if_needed(session, instance, record, as_json=as_json)
        return
    holder = live_holder(session.ledger, instance, request_id)
    if holder is not None:
        fail(
            f"{request_id} is being fulfilled by {holder.describe()}; nothing was changed "
            "(run it again once that run has ended)",
            as_json=as_json,
        )
    run_request(session, request_id, as_json=as_json)


def verify_identity(
    request_id: str,
    by: Annotated[str, typer.Option("--by", help="Staff handle who checked the identity")],
    as_json: JsonOpt = False,
) -> None:
    """Record that the person's identity was verified, so an erasure may run."""
    session = Session()
    try:
        record = session.ledger.mark_identity_verified(request_id, by=by)
    except (LedgerError, ValueError) as exc:
        fail(str(exc), as_json=as_json)
    if as_json:
        emit_json({"ok": True, "request_id": request_id, "identity_verified": True})
    else:
        console.print(
            f"{record.request_id}: identity verified by {by}; run it with "
            f"`dsr run {request_id}` or let the sensor launch it"
        )


def extend(
    request_id: str,
    months: Annotated[int, typer.Option(help="1 or 2 months (Art. 12(3))")],
    reason: Annotated[str, typer.Option(help="Why the request needs longer")],
    notified_via: Annotated[
        str,
        typer.Option(
            help="How the person was told of the extension and why, e.g. a ticket reply "
            "reference (Art. 12(3): within one month of receipt)"
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Extend a request's due date by up to two months, with a recorded reason.

    Only within the first month after receipt, once the person has been told (Art. 12(3)).
    """
    session = Session()
    try:
        record = session.ledger.extend(
            request_id, months=months, reason=reason, notified_via=notified_via
        )
    except (LedgerError, ValueError) as exc:
        fail(str(exc), as_json=as_json)
    if as_json:
        emit_json({"ok": True, "request_id": request_id, "due_at": record.due_at})
    else:
        console.print(f"{request_id}: now due {record.due_at:%Y-%m-%d}")


def status(request_id: str, as_json: JsonOpt = False) -> None:
    """Show a request's state, dates, result and audit trail."""
    session = Session()
    try:
        record = session.ledger.get(request_id)
    except LedgerError as exc:
        fail(str(exc), as_json=as_json)
    entries = session.ledger.audit_entries(request_id)
    chain = session.ledger.verify_chain()
    if as_json:
        emit_json(
            {
                "request_id": record.request_id,
                "type": record.type,
                "scope": record.scope,
                "client_id": record.client_id,
                "state": record.state,
                "received_at": record.received_at,
                "due_at": record.due_at,
                "identity_verified": record.identity_verified,
                "extension_reason": record.extension_reason,
                "result": record.result,
                "failure_reason": record.failure_reason,
                "audit": [{"seq": e.seq, "at": e.at, "event": e.event} for e in entries],
                "audit_chain_ok": chain.ok,
            }
        )
        return
    for key in ("request_id", "type", "scope", "client_id", "state", "received_at", "due_at"):
        console.print(f"{key:>12}: {getattr(record, key)}")
    if record.failure_reason:
        console.print(f"{'reason':>12}: {record.failure_reason}")
    for key in ("bundle", "proof"):
        if (record.result or {}).get(key):
            console.print(f"{key:>12}: {record.result[key]}")
    console.print(f"{'audit':>12}: {len(entries)} entries, chain {'ok' if chain.ok else 'BROKEN'}")
    for e in entries:
        console.print(f"{'':>12}  #{e.seq} {e.at} {e.event}")


__all__ = [
    "access",
    "erase",
    "extend",
    "opt_out",
    "rectify",
    "report",
    "restrict",
    "run",
    "status",
    "verify_identity",
]
