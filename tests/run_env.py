"""Test helpers around Dagster runs: a run that is still working, and what a failed step said."""

from __future__ import annotations

import os

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.utils import make_new_run_id

from connectors.leases import Leases
from dsr.ledger import Ledger
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
