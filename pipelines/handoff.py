"""The intake run starts its request's fulfilment run itself and links the two.

Support lands on the intake run after Launch; waiting for the pending-requests sensor's next tick
(every 15 s) and then hunting for the run by tag cost them 13-22 s and a search. The intake run
instead creates the fulfilment run with the tags the sensor would give it and puts it in the
instance's run queue; each run's tags name the other, and the log and metadata carry a link.

Only a run launched from the UI or the daemon can do this: it knows its code location (the
fulfilment run must be loadable from the same one) and the queue accepts a run without a
workspace. A run executed in process (tests, scripts) leaves the request to the sensor.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    MetadataValue,
    OpExecutionContext,
    RunsFilter,
)
from dagster._core.remote_origin import RemoteJobOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator

from dsr.ledger import RequestRecord
from pipelines.intake_names import INTAKE_JOBS, REQUEST_ID_TAG
from pipelines.request_state import job_for, launch_blocker
from pipelines.run_queue import system_tags

FULFILMENT_RUN_TAG = "dsr/fulfilment_run"
INTAKE_RUN_TAG = "dsr/intake_run"
DUE_AT_TAG = "dsr/due_at"
PARTITION_TAG = "dagster/partition"
WEBSERVER_URL_VARIABLE = "DAGSTER_WEBSERVER_URL"
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"
# An intake run still unfinished after this long has died; the sensor stops waiting for it.
INTAKE_GRACE = timedelta(minutes=10)
_UNFINISHED = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def run_url(run_id: str) -> str:
    base = os.environ.get(WEBSERVER_URL_VARIABLE, "").strip() or DEFAULT_WEBSERVER_URL
    return f"{base.rstrip('/')}/runs/{run_id}"


def request_tags(record: RequestRecord) -> dict[str, str]:
    """Tags every fulfilment run of one request carries, whoever launched it (no person)."""
    return {REQUEST_ID_TAG: record.request_id, DUE_AT_TAG: f"{record.due_at:%Y-%m-%d}"}


def can_hand_off(context: OpExecutionContext) -> bool:
    run = context.run
    return (
        run.remote_job_origin is not None
        and run.job_code_origin is not None
        and isinstance(context.instance.run_coordinator, QueuedRunCoordinator)
    )


def start_fulfilment(
    context: OpExecutionContext, record: RequestRecord, regions: list[str]
) -> dict[str, MetadataValue]:
    """After registration: queue and link the fulfilment run, or say the sensor will; the
    intake step's metadata."""
    due = f"{record.request_id} (due {record.due_at:%Y-%m-%d})"
    later = "the pending-requests sensor launches its fulfilment within 15 s"
    blocker = launch_blocker(record)
    if blocker is not None:  # the sensor would not launch it either: no run that must fail
        context.log.warning(f"registered {record.type} request {due}; not started yet: {blocker}")
        return {}
    if not can_hand_off(context):
        context.log.info(f"registered {record.type} request {due}; {later}")
        return {}
    try:
        run_id = hand_off(context, record, regions)
    except Exception as exc:  # registered all the same: the sensor picks the request up
        context.log.warning(
            f"registered {record.type} request {due}; its fulfilment run could not be queued "
            f"({type(exc).__name__}: {exc}); {later}"
        )
        return {}
    context.instance.add_run_tags(context.run.run_id, {FULFILMENT_RUN_TAG: run_id})
    context.log.info(
        f"registered {record.type} request {due}; its fulfilment run {run_id} is queued: "
        f"{run_url(run_id)}"
    )
    return {"fulfilment_run": MetadataValue.url(run_url(run_id))}


def hand_off(context: OpExecutionContext, record: RequestRecord, regions: list[str]) -> str:
    """Queue the request's fulfilment run (or find the one already made); its run id."""
    rid = record.request_id
    existing = context.instance.get_run_ids(filters=RunsFilter(tags={PARTITION_TAG: rid}), limit=1)
    if existing:
        return existing[0]
    tags = {**system_tags(regions), **request_tags(record), PARTITION_TAG: rid}
    return queue_run(context, job_for(record), tags)


def queue_run(context: OpExecutionContext, job_name: str, tags: dict[str, str]) -> str:
    """Put a run of ``job_name`` from this run's code location in the instance's run queue."""
    instance = context.instance
    intake = context.run
    origin = intake.remote_job_origin
    code_origin = intake.job_code_origin
    assert origin is not None and code_origin is not None  # can_hand_off said so
    run = instance.create_run_for_job(
        context.repository_def.get_job(job_name),
        run_config={},
        tags={**tags, INTAKE_RUN_TAG: intake.run_id},
        remote_job_origin=RemoteJobOrigin(origin.repository_origin, job_name),
        job_code_origin=code_origin._replace(job_name=job_name),
    )
    # The queued coordinator only enqueues: it needs no workspace (the daemon dequeues).
    instance.submit_run(run.run_id, workspace=None)  # type: ignore[arg-type]
    return run.run_id


def intake_in_flight(instance: DagsterInstance) -> tuple[set[str], bool]:
    """Requests whose intake run is still working (it hands them off itself), and whether an
    unfinished intake run has not tagged its request yet (it may be registering one)."""
    since = datetime.now(UTC) - INTAKE_GRACE
    runs = instance.get_runs(filters=RunsFilter(statuses=_UNFINISHED, created_after=since))
    tagged: set[str] = set()
    untagged = False
    for run in runs:
        if run.job_name not in INTAKE_JOBS:
            continue
        if REQUEST_ID_TAG in run.tags:
            tagged.add(run.tags[REQUEST_ID_TAG])
        else:
            untagged = True
    return tagged, untagged
