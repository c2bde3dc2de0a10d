"""Registering a request from the CLI and running its fulfilment as a Dagster run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from dsr.cli.flags_output import FLAG_TYPES, flags_report
from dsr.cli.output import (
    actions_table,
    console,
    counts_table,
    emit_json,
    fail,
    print_failure,
)
from dsr.cli.proof_view import describe, pending_items
from dsr.cli.session import Session
from dsr.cli.state import options
from dsr.intake_request import IntakeError, IntakeRequest
from dsr.request_kinds import State

if TYPE_CHECKING:
    from dsr.ledger import RequestRecord

STEP_WORDS = {"STEP_START": "running", "STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED"}
CLOSED_STATES = (State.FULFILLED, State.REFUSED, State.LIFTED)

__all__ = ["Session", "report", "run_request", "submit"]


def submit(
    session: Session,
    intake: IntakeRequest,
    *,
    as_json: bool,
    queue: bool,
    extra: dict[str, Any] | None = None,
) -> None:
    """Check everything, register the request, then run it here unless it is queued or may not
    run yet. Nothing is written (not even a new home) before every check has passed."""
    from dsr.intake import check_intake, register_request
    from pipelines.launch import instance_for
    from pipelines.partitions import add_request_partitions
    from pipelines.request_state import launch_blocker

    connectors = session.connectors(as_json=as_json)
    default_region = session.settings.default_phone_region
    try:
        checked = check_intake(connectors, intake, default_region=default_region)
        record = register_request(
            session.ledger, connectors, intake, default_region=default_region, checked=checked
        )
    except IntakeError as exc:
        fail(f"request not registered: {exc}", as_json=as_json)
    blocker = launch_blocker(record)
    if queue or blocker:
        add_request_partitions(instance_for(session.settings), [record])
        then = (
            f"then run it with `dsr run {record.request_id}`, or let the pending-requests sensor "
            "(dsr ui) run it"
        )
        if as_json:
            emit_json(
                {
                    "ok": True,
                    "request_id": record.request_id,
                    "state": record.state,
                    "queued": True,
                    "waiting_for": blocker,
                    "next": f"dsr run {record.request_id}",
                }
            )
        else:
            console.print(f"registered [bold]{record.request_id}[/] ({record.type})")
            if blocker:
                console.print(f"{blocker}; {then}", soft_wrap=True)
            else:
                console.print(
                    f"queued: the pending-requests sensor (dsr ui) runs it, or run it now with "
                    f"`dsr run {record.request_id}`",
                    soft_wrap=True,
                )
        return
    run_request(session, record.request_id, as_json=as_json, extra=extra)


def run_request(
    session: Session, request_id: str, *, as_json: bool, extra: dict[str, Any] | None = None
) -> None:
    """Run the request's fulfilment here; ``extra`` goes into the JSON output as it is."""
    from pipelines.definitions import build_definitions
    from pipelines.launch import instance_for, run_fulfilment
    from pipelines.request_state import job_for, record_run_failure

    record = session.ledger.get(request_id)
    defs = build_definitions(session.settings)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=console,
        disable=as_json,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{request_id}: starting", total=None)

        def on_step(event: str, step: str) -> None:
            word = STEP_WORDS.get(event, event.lower().replace("_", " "))
            progress.update(task, description=f"{request_id}: {step} {word}")

        instance = instance_for(session.settings)
        result = run_fulfilment(
            defs,
            instance,
            request_id,
            job_name=job_for(record),
            on_step=on_step,
            log_dir=session.settings.home / "logs",
            verbose=options.verbose,
        )
    from sqlalchemy.exc import SQLAlchemyError

    try:
        if not result.success:
            record_run_failure(
                session.ledger, instance, request_id, result.run_id, result.failed_steps
            )
        record = session.ledger.get(request_id)
    except SQLAlchemyError as exc:
        fail(
            f"run {result.run_id} of {request_id} ended, but the ledger database cannot be read "
            f"({type(exc).__name__}); once it is back, `dsr run {request_id}` resumes the request",
            as_json=as_json,
            code=1,
        )
    log = str(result.log_path) if result.log_path and not result.success else None
    report(record, result.run_id, as_json, log_path=log, extra=extra)


def report(
    record: RequestRecord,
    run_id: str | None,
    as_json: bool,
    *,
    log_path: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    if record.type in FLAG_TYPES:
        flags_report(record, run_id, as_json, log_path=log_path)
        return
    result = record.result or {}
    pending = pending_items(result.get("proof"))
    payload: dict[str, Any] = {
        "ok": record.state == State.FULFILLED,
        "request_id": record.request_id,
        "type": record.type,
        "state": record.state,
        "run_id": run_id,
        "due_at": record.due_at,
        "bundle": result.get("bundle"),
        "proof": result.get("proof"),
        "rows_per_system": result.get("rows_per_system", {}),
        "mentions_per_system": result.get("mentions_per_system", {}),
        "actions_per_system": result.get("actions_per_system", {}),
        "not_searched": result.get("not_searched", {}),
        "pending": pending,
        "failure_reason": record.failure_reason,
        "log": log_path,
        **(extra or {}),
    }
    if as_json:
        emit_json(payload)
    elif payload["ok"]:
        if payload["actions_per_system"]:
            console.print(actions_table(payload["actions_per_system"]))
        else:
            title = "corrected" if record.type == "rectification" else "found"
            console.print(
                counts_table(title, payload["rows_per_system"], payload["mentions_per_system"])
            )
        open_items = f"; {len(pending)} item(s) still pending (below)" if pending else ""
        console.print(f"request [bold]{record.request_id}[/] ({record.type}) fulfilled{open_items}")
        for system, why in payload["not_searched"].items():
            console.print(f"{system}: {why}")
        for item in pending:
            console.print(f"[yellow]pending[/] {describe(item)}", soft_wrap=True)
        for key in ("bundle", "proof"):
            if payload[key]:
                console.print(f"{key}: [bold]{payload[key]}[/]")
    else:
        print_failure(record.request_id, record.state, record.failure_reason, log_path)
    if not payload["ok"]:
        raise typer.Exit(1)


def finish_if_needed(
    session: Session, instance: Any, record: RequestRecord, *, as_json: bool
) -> None:
    """A closed request runs no more; only a cleanup a crash interrupted is finished."""
    from pipelines.erasure_cleanup import CLEANUP_DONE, finish_cleanup

    done = any(e.event == CLEANUP_DONE for e in session.ledger.audit_entries(record.request_id))
    counts = None
    if not done:
        counts = finish_cleanup(instance, session.ledger, session.resources["staging"], record)
    result = record.result or {}
    if as_json:
        emit_json(
            {
                "ok": True,
                "request_id": record.request_id,
                "type": record.type,
                "state": record.state,
                "run_id": None,
                "nothing_to_run": True,
                "cleanup_finished": counts,
                **{k: result.get(k) for k in ("proof", "bundle")},
                **{k: result.get(k, {}) for k in ("rows_per_system", "actions_per_system")},
            }
        )
        return
    console.print(f"request [bold]{record.request_id}[/] is already {record.state}: nothing to run")
    for key in ("bundle", "proof"):
        if result.get(key):
            console.print(f"{key}: [bold]{result[key]}[/]")
    if counts is not None:
        console.print(f"finished its cleanup, which a crash had interrupted: {counts}")
