"""Test helpers around Dagster runs: a run that is still working, and what a failed step said."""

from __future__ import annotations

import os
from typing import Any

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunRequest
from dagster._core.utils import make_new_run_id

from dsr.ledger import Ledger
from dsr.ledger.leases import Leases
from pipelines.request_lease import LEASE_TTL, lease_name, run_holder


def hold_as_live_run(
    ledger: Ledger, instance: DagsterInstance, request_id: str, *, pid: int | None = None
) -> str:
    """The request claimed and leased by a run that Dagster says is STARTED, in process ``pid``
    (default: this one, alive; pass a finished process's pid for a run that died unseen)."""
    run_id = make_new_run_id()
    instance.add_run(
        DagsterRun(job_name="erasure_fulfilment", run_id=run_id, status=DagsterRunStatus.STARTED)
    )
    holder = run_holder(run_id, os.getpid() if pid is None else pid)
    Leases(ledger.engine).take(lease_name(request_id), holder, LEASE_TTL)
    ledger.claim(request_id)
    return holder


def step_failure_text(instance: DagsterInstance, run_id: str) -> str:
    """Every failed step's error and its causes, as the UI shows them."""
    parts = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        error = record.dagster_event.event_specific_data.error  # type: ignore[union-attr]
        while error is not None:
            parts.append(error.message)
            error = error.cause
    return "\n".join(parts)


def execute_launch(definitions: Any, instance: DagsterInstance, launch: RunRequest) -> bool:
    """Run what a sensor asked for as the daemon would: a request's partition, or a batch."""
    from pipelines.launch import run_fulfilment

    if launch.partition_key:
        return run_fulfilment(
            definitions, instance, launch.partition_key, job_name=launch.job_name or ""
        ).success
    job = definitions.resolve_job_def(launch.job_name)
    result = job.execute_in_process(
        run_config=launch.run_config, instance=instance, tags=launch.tags, raise_on_error=False
    )
    return result.success
