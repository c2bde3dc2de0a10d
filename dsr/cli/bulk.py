"""`dsr access|erase|opt-out --from-csv FILE`: register a file of people, then fulfil them in
batch runs with a progress bar and counts per state (``dsr.bulk_intake`` does the checking)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dsr.cli.output import console, emit_json, errors, fail
from dsr.cli.session import Session
from dsr.cli.state import options
from dsr.intake_request import IntakeError, IntakeRequest
from dsr.request_kinds import State

if TYPE_CHECKING:
    from dsr.ledger import RequestRecord

SHOWN_REJECTIONS = 20
_CLOSED = {State.FULFILLED, State.FAILED, State.REFUSED}


def _progress(as_json: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
        transient=True,
    )


def submit_bulk(
    session: Session, template: IntakeRequest, path: Path, *, as_json: bool, queue: bool
) -> None:
    from dsr.bulk_intake import check_rows, read_rows, register_rows
    from pipelines.launch import instance_for
    from pipelines.partitions import add_request_partitions

    connectors = session.connectors(as_json=as_json)
    try:
        good, rejected = check_rows(
            connectors,
            read_rows(path),
            template,
            default_region=session.settings.default_phone_region,
        )
    except IntakeError as exc:
        fail(f"nothing registered: {exc}", as_json=as_json)
    with _progress(as_json) as progress:
        task = progress.add_task("registering", total=len(good))
        records = register_rows(
            session.ledger, good, lambda done, _total: progress.update(task, completed=done)
        )
    instance = instance_for(session.settings)
    add_request_partitions(instance, records)
    if not as_json:
        console.print(f"registered {len(records)} {template.type} requests from {path}")
        for line, reason in rejected[:SHOWN_REJECTIONS]:
            errors.print(f"[red]rejected[/] line {line}: {reason}", soft_wrap=True)
        if len(rejected) > SHOWN_REJECTIONS:
            errors.print(f"… and {len(rejected) - SHOWN_REJECTIONS} more rows rejected (--json)")
    if records and not queue:
        fulfil_all(session, instance, records, as_json=as_json)
    final = session.ledger.states_of([r.request_id for r in records])
    payload: dict[str, Any] = {
        "ok": bool(records) and not rejected and (queue or set(final) <= {State.FULFILLED.value}),
        "registered": len(records),
        "rejected": [{"line": line, "reason": reason} for line, reason in rejected],
        "request_ids": [r.request_id for r in records],
        "queued": queue,
        "states": final,
    }
    if as_json:
        emit_json(payload)
    else:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(payload["states"].items()))
        console.print(f"requests: {counts}" if counts else "no request registered")
        if queue and records:
            console.print("queued: the pending-requests sensor runs them (dsr ui), or dsr run ID")
    if not payload["ok"]:
        raise typer.Exit(1)


def fulfil_all(
    session: Session, instance: Any, records: Sequence[RequestRecord], *, as_json: bool
) -> dict[str, int]:
    """Fulfil every request that may run now: batch runs of DSR_BATCH_SIZE for access and
    erasure, one run each for the others; counts per state at the end."""
    from pipelines.definitions import build_definitions
    from pipelines.request_state import job_for, launch_blocker
    from pipelines.sensors import BATCH_JOBS

    defs = build_definitions(session.settings)
    ready = [r.request_id for r in records if launch_blocker(r) is None]
    jobs = {r.request_id: job_for(r) for r in records}
    size = session.settings.batch_size
    with _progress(as_json) as progress:
        task = progress.add_task("fulfilling", total=len(ready))
        for job_name in sorted({jobs[rid] for rid in ready}):
            mine = [rid for rid in ready if jobs[rid] == job_name]
            batch_job = BATCH_JOBS.get(job_name)
            if batch_job:
                for start in range(0, len(mine), size):
                    chunk = mine[start : start + size]
                    _watch(session, progress, task, ready, _batch, defs, instance, batch_job, chunk)
            else:
                for rid in mine:
                    _watch(session, progress, task, ready, _single, defs, instance, rid, job_name)
    return session.ledger.states_of([r.request_id for r in records])


def _batch(defs: Any, instance: Any, job_name: str, request_ids: list[str]) -> None:
    from pipelines.launch import loggers_config

    op = f"fulfil_{job_name.removesuffix('_batch')}_batch"
    defs.resolve_job_def(job_name).execute_in_process(
        run_config={
            "ops": {op: {"config": {"request_ids": request_ids}}},
            "loggers": loggers_config(options.verbose),
        },
        instance=instance,
        tags={"dsr/batch_requests": ",".join(request_ids)},
        raise_on_error=False,
    )


def _single(defs: Any, instance: Any, request_id: str, job_name: str) -> None:
    from pipelines.launch import run_fulfilment

    run_fulfilment(defs, instance, request_id, job_name=job_name)


def _watch(
    session: Session,
    progress: Progress,
    task: Any,
    ready: Sequence[str],
    work: Callable[..., None],
    *args: Any,
) -> None:
    """Run ``work(*args)`` while the bar follows how many requests are closed."""
    worker = threading.Thread(target=work, args=args, name="dsr-bulk")
    worker.start()
    while worker.is_alive():
        worker.join(0.5)
        states = session.ledger.states_of(ready)
        progress.update(task, completed=sum(states.get(s.value, 0) for s in _CLOSED))
