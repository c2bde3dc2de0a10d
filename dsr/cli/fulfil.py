"""Registering a request from the CLI and running its fulfilment as a Dagster run."""

from __future__ import annotations

from typing import Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from sqlalchemy.exc import SQLAlchemyError

from dsr.cli.flags_output import FLAG_TYPES, flags_report
from dsr.cli.output import actions_table, console, counts_table, emit_json, fail
from dsr.intake import IntakeError, IntakeRequest, register_request
from dsr.ledger import Ledger, RequestRecord, State
from dsr.services_mode import start_services_if_standins
from dsr.settings import Settings
from resources import build_resources

STEP_WORDS = {"STEP_START": "running", "STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED"}
CLOSED_STATES = (State.FULFILLED, State.REFUSED, State.LIFTED)


class Session:
    """Settings, resources and the ledger of one CLI invocation."""

    def __init__(self) -> None:
        self.services = start_services_if_standins()
        self.settings = Settings.from_env()
        self.settings.ensure_dirs()
        self.resources: dict[str, Any] = build_resources(self.settings)
        self.ledger: Ledger = self.resources["ledger"].ledger()

    @property
    def crm(self) -> Any:
        return self.resources["crm"]

    def connectors(self, *, as_json: bool) -> list[Any]:
        from connectors.datamap import DataMapError

        try:
            return self.crm.connectors()
        except DataMapError as exc:
            fail(str(exc), as_json=as_json)


def submit(session: Session, intake: IntakeRequest, *, as_json: bool, queue: bool) -> None:
    """Register the request, then run it here unless it is queued or may not run yet."""
    from pipelines.launch import instance_for
    from pipelines.partitions import REQUESTS_PARTITIONS_NAME
    from pipelines.request_state import launch_blocker

    try:
        record = register_request(
            session.ledger,
            session.connectors(as_json=as_json),
            intake,
            default_region=session.settings.default_phone_region,
        )
    except IntakeError as exc:
        fail(f"request not registered: {exc}", as_json=as_json)
    blocker = launch_blocker(record)
    if queue or blocker:
        instance_for(session.settings).add_dynamic_partitions(
            REQUESTS_PARTITIONS_NAME, [record.request_id]
        )
        if as_json:
            emit_json(
                {
                    "ok": True,
                    "request_id": record.request_id,
                    "state": record.state,
                    "queued": True,
                    "waiting_for": blocker,
                }
            )
        else:
            console.print(f"registered [bold]{record.request_id}[/] ({record.type})")
            console.print(blocker or "the pending-requests sensor will run it")
        return
    run_request(session, record.request_id, as_json=as_json)


def run_request(session: Session, request_id: str, *, as_json: bool) -> None:
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
            defs, instance, request_id, job_name=job_for(record), on_step=on_step
        )
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
    report(record, result.run_id, as_json)


def report(record: RequestRecord, run_id: str | None, as_json: bool) -> None:
    if record.type in FLAG_TYPES:
        flags_report(record, run_id, as_json)
        return
    result = record.result or {}
    payload = {
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
        "failure_reason": record.failure_reason,
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
        console.print(f"request [bold]{record.request_id}[/] ({record.type}) fulfilled")
        for system, why in payload["not_searched"].items():
            console.print(f"{system}: {why}")
        for key in ("bundle", "proof"):
            if payload[key]:
                console.print(f"{key}: [bold]{payload[key]}[/]")
    else:
        console.print(f"request [bold]{record.request_id}[/] is [bold red]{record.state}[/]")
        console.print(f"reason: {record.failure_reason or 'see the run in the Dagster UI'}")
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
