"""Commands on a registered request: run it, record its holder's verified identity, extend it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dsr.cli.fulfil import CLOSED_STATES, Session, finish_if_needed, run_request
from dsr.cli.options import JsonOpt
from dsr.cli.output import console, emit_json, fail

if TYPE_CHECKING:
    from dsr.ledger import RequestRecord


def _record(session: Session, request_id: str, as_json: bool) -> RequestRecord:
    from dsr.ledger import LedgerError

    try:
        return session.ledger.get(request_id)
    except LedgerError as exc:
        fail(f"{exc}; `dsr status` shows a request, `dsr deadlines` the open ones", as_json=as_json)


def run(request_id: str, as_json: JsonOpt = False) -> None:
    """Run a registered request, resume one a crash or a failure stopped, or finish the cleanup
    of one that is fulfilled; refused while another run is working on it."""
    from pipelines.launch import instance_for
    from pipelines.request_lease import live_holder
    from pipelines.request_state import launch_blocker

    session = Session(as_json=as_json, creates=False)
    record = _record(session, request_id, as_json)
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
    from dsr.ledger import LedgerError

    session = Session(as_json=as_json, creates=False)
    try:
        record = session.ledger.mark_identity_verified(request_id, by=by)
    except (LedgerError, ValueError) as exc:
        fail(f"not recorded: {exc}", as_json=as_json)
    if as_json:
        emit_json(
            {
                "ok": True,
                "request_id": request_id,
                "identity_verified": True,
                "next": f"dsr run {request_id}",
            }
        )
    else:
        console.print(
            f"{record.request_id}: identity verified by {by}; run it with "
            f"`dsr run {request_id}` or let the sensor launch it"
        )


def _check_months(record: RequestRecord, months: int, as_json: bool) -> None:
    """Refuse an extension beyond Art. 12(3)'s two months with the numbers that matter."""
    from dsr.ledger.dates import MAX_EXTENSION_MONTHS

    done = record.extension_months
    left = MAX_EXTENSION_MONTHS - done
    if 1 <= months <= left:
        return
    if months < 1:
        fail("--months must be 1 or 2 (whole months)", as_json=as_json)
    if done == 0:
        fail(
            f"--months {months} is too long: GDPR Art. 12(3) allows an extension of at most "
            f"{MAX_EXTENSION_MONTHS} months in total; use --months 1 or 2",
            as_json=as_json,
        )
    fail(
        f"{record.request_id} is already extended by {done} month(s); GDPR Art. 12(3) allows "
        f"{MAX_EXTENSION_MONTHS} in total, so "
        + (f"at most --months {left} more" if left else "it cannot be extended again"),
        as_json=as_json,
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
    from dsr.ledger import LedgerError
    from dsr.ledger.dates import MAX_EXTENSION_MONTHS

    session = Session(as_json=as_json, creates=False)
    _check_months(_record(session, request_id, as_json), months, as_json)
    try:
        record = session.ledger.extend(
            request_id, months=months, reason=reason, notified_via=notified_via
        )
    except (LedgerError, ValueError) as exc:
        fail(f"not extended: {exc}", as_json=as_json)
    if as_json:
        emit_json(
            {
                "ok": True,
                "request_id": request_id,
                "due_at": record.due_at,
                "extension_months": record.extension_months,
            }
        )
    else:
        console.print(
            f"{request_id}: now due {record.due_at:%Y-%m-%d} (extended by "
            f"{record.extension_months} of {MAX_EXTENSION_MONTHS} month(s))"
        )
