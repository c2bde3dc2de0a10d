"""Sensors: requests registered outside a fulfilment run get one; failed runs fail requests."""

from collections.abc import Sequence

from dagster import (
    DefaultSensorStatus,
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

from dsr.ledger import State
from pipelines.intake_names import REQUEST_ID_TAG
from pipelines.partitions import REQUESTS_PARTITIONS_NAME, request_partitions
from pipelines.request_state import job_for, launch_blocker, record_run_failure
from resources.ledger import LedgerResource


def pending_requests_sensor(jobs: Sequence[UnresolvedAssetJobDefinition]) -> SensorDefinition:
    @sensor(
        name="pending_requests",
        jobs=list(jobs),
        minimum_interval_seconds=15,
        default_status=DefaultSensorStatus.RUNNING,
        description="Launches fulfilment for requests that are received, may run (an erasure "
        "needs a verified identity) and have no run yet.",
    )
    def _sensor(context: SensorEvaluationContext, ledger: LedgerResource) -> SensorResult:
        pending = [
            r
            for r in ledger.ledger().list_requests(states=[State.RECEIVED])
            if launch_blocker(r) is None
        ]
        known = set(context.instance.get_dynamic_partitions(REQUESTS_PARTITIONS_NAME))
        new_partitions = [r.request_id for r in pending if r.request_id not in known]
        runs = [
            RunRequest(
                partition_key=r.request_id,
                run_key=r.request_id,
                job_name=job_for(r),
                tags={REQUEST_ID_TAG: r.request_id},
            )
            for r in pending
            # A CLI run already working on it carries the partition tag: never start a second.
            if not context.instance.get_run_ids(
                filters=RunsFilter(tags={"dagster/partition": r.request_id}), limit=1
            )
        ]
        return SensorResult(
            run_requests=runs,
            dynamic_partitions_requests=(
                [request_partitions.build_add_request(new_partitions)] if new_partitions else []
            ),
        )

    return _sensor


def failed_runs_sensor(jobs: Sequence[UnresolvedAssetJobDefinition]) -> SensorDefinition:
    @run_failure_sensor(
        name="mark_failed_requests",
        monitored_jobs=list(jobs),
        default_status=DefaultSensorStatus.RUNNING,
        description="A fulfilment run that failed leaves its request marked failed in the ledger.",
    )
    def _sensor(context: RunFailureSensorContext, ledger: LedgerResource) -> None:
        request_id = context.dagster_run.tags.get("dagster/partition")
        if request_id:
            steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
            record_run_failure(
                ledger.ledger(), context.instance, request_id, context.dagster_run.run_id, steps
            )

    return _sensor
