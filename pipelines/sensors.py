"""Sensors: requests registered outside a fulfilment run get one; failed runs fail requests."""

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from dagster import (
    DefaultSensorStatus,
    JobDefinition,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    run_failure_sensor,
    sensor,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from dsr.ledger import RequestRecord, State
from pipelines.batch_access import ACCESS_BATCH_JOB
from pipelines.batch_erasure import ERASURE_BATCH_JOB
from pipelines.handoff import intake_in_flight, request_tags
from pipelines.jobs import ACCESS_JOB, ERASURE_JOB
from pipelines.partitions import ids_by_group, known_request_partitions, partitions_for
from pipelines.request_state import job_for, launch_blocker, record_run_failure
from resources.ledger import LedgerResource

# Kinds fulfilled together when more than one is pending (the others always one run each).
BATCH_JOBS = {ACCESS_JOB: ACCESS_BATCH_JOB, ERASURE_JOB: ERASURE_BATCH_JOB}
# A batch launched but not started yet keeps its requests "received": not launched again until
# this long has passed (a run that never started is then launched anew).
RELAUNCH_AFTER = timedelta(minutes=30)


def pending_requests_sensor(
    jobs: Sequence[UnresolvedAssetJobDefinition],
    batch_jobs: Sequence[JobDefinition] = (),
    batch_size: int = 200,
    queue_tags: Mapping[str, str] | None = None,
) -> SensorDefinition:
    """``queue_tags``: the databases and services a run may reach (``pipelines.run_queue``)."""
    extra = dict(queue_tags or {})

    @sensor(
        name="pending_requests",
        jobs=[*jobs, *batch_jobs],
        minimum_interval_seconds=15,
        default_status=DefaultSensorStatus.RUNNING,
        description="Launches fulfilment for requests that are received, may run (an erasure "
        "needs a verified identity) and have no run yet: one run per request, or, when several "
        f"access or erasure requests wait, batch runs of up to DSR_BATCH_SIZE ({batch_size}).",
    )
    def _sensor(context: SensorEvaluationContext, ledger: LedgerResource) -> SensorResult:
        pending = [
            r
            for r in ledger.ledger().list_requests(states=[State.RECEIVED])
            if launch_blocker(r) is None
        ]
        known = known_request_partitions(context.instance)
        new_partitions = ids_by_group(r for r in pending if r.request_id not in known)
        now = datetime.now(UTC)
        launched = _cursor(context.cursor, now)
        # An intake run still working hands its request off itself (pipelines.handoff).
        handing_off, registering = intake_in_flight(context.instance)
        waiting = [
            r
            for r in pending
            if r.request_id not in launched
            and r.request_id not in handing_off
            and not (registering and r.channel == "launchpad")
            # A CLI run already working on it carries the partition tag: never start a second.
            and not context.instance.get_run_ids(
                filters=RunsFilter(tags={"dagster/partition": r.request_id}), limit=1
            )
        ]
        by_job: dict[str, list[RequestRecord]] = defaultdict(list)
        for record in waiting:
            by_job[job_for(record)].append(record)
        runs: list[RunRequest] = []
        for job_name, records in sorted(by_job.items()):
            batch_job = BATCH_JOBS.get(job_name) if batch_jobs else None
            if batch_job is None or len(records) == 1:
                runs += [_single(r, job_name, extra) for r in records]
                continue
            for start in range(0, len(records), batch_size):
                runs.append(_batch(batch_job, records[start : start + batch_size], extra))
        for run in runs:
            for request_id in run.tags.get(BATCH_TAG, run.partition_key or "").split(","):
                launched[request_id] = now.isoformat()
        still = {r.request_id for r in pending}
        cursor = {rid: at for rid, at in launched.items() if rid in still}
        return SensorResult(
            run_requests=runs,
            dynamic_partitions_requests=[
                partitions_for(group).build_add_request(ids)
                for group, ids in new_partitions.items()
            ],
            cursor=json.dumps(cursor, sort_keys=True),
        )

    return _sensor


BATCH_TAG = "dsr/batch_requests"


def _single(record: RequestRecord, job_name: str, extra: Mapping[str, str]) -> RunRequest:
    return RunRequest(
        partition_key=record.request_id,
        run_key=record.request_id,
        job_name=job_name,
        tags={**extra, **request_tags(record)},
    )


def _batch(job_name: str, records: Sequence[RequestRecord], extra: Mapping[str, str]) -> RunRequest:
    ids = [r.request_id for r in records]
    digest = hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]
    return RunRequest(
        run_key=f"{job_name}-{digest}",
        job_name=job_name,
        run_config={
            "ops": {
                f"fulfil_{job_name.removesuffix('_batch')}_batch": {"config": {"request_ids": ids}}
            }
        },
        # Request ids are not personal data: the UI can say which requests a batch holds.
        tags={**extra, BATCH_TAG: ",".join(ids), "dsr/batch_size": str(len(ids))},
    )


def _cursor(text: str | None, now: datetime) -> dict[str, str]:
    """Requests launched recently and not started yet (request id -> when)."""
    try:
        launched = json.loads(text or "{}")
    except ValueError:
        return {}
    return {
        rid: at for rid, at in launched.items() if now - datetime.fromisoformat(at) < RELAUNCH_AFTER
    }


def failed_runs_sensor(
    jobs: Sequence[UnresolvedAssetJobDefinition], batch_jobs: Sequence[JobDefinition] = ()
) -> SensorDefinition:
    @run_failure_sensor(
        name="mark_failed_requests",
        monitored_jobs=[*jobs, *batch_jobs],
        default_status=DefaultSensorStatus.RUNNING,
        description="A fulfilment run (or batch) that failed leaves its requests marked failed "
        "in the ledger, unless another run is working on them.",
    )
    def _sensor(context: RunFailureSensorContext, ledger: LedgerResource) -> None:
        run = context.dagster_run
        request_ids = [run.tags["dagster/partition"]] if "dagster/partition" in run.tags else []
        request_ids += [r for r in run.tags.get(BATCH_TAG, "").split(",") if r]
        steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
        for request_id in request_ids:
            record_run_failure(ledger.ledger(), context.instance, request_id, run.run_id, steps)

    return _sensor
