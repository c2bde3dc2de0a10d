"""Requests registered outside a fulfilment run (Launchpad, `dsr access --queue`) get one."""

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

from dsr.ledger import RequestType, State
from pipelines.intake import REQUEST_ID_TAG
from pipelines.partitions import REQUESTS_PARTITIONS_NAME, request_partitions
from pipelines.request_state import record_run_failure
from resources.ledger import LedgerResource

ACCESS_TYPES = {RequestType.ACCESS, RequestType.PORTABILITY}


def pending_requests_sensor(job: UnresolvedAssetJobDefinition) -> SensorDefinition:
    @sensor(
        name="pending_access_requests",
        job=job,
        minimum_interval_seconds=15,
        default_status=DefaultSensorStatus.RUNNING,
        description="Launches fulfilment for access requests that are received and have no run.",
    )
    def _sensor(context: SensorEvaluationContext, ledger: LedgerResource) -> SensorResult:
        pending = [
            r.request_id
            for r in ledger.ledger().list_requests(states=[State.RECEIVED])
            if r.type in ACCESS_TYPES
        ]
        known = set(context.instance.get_dynamic_partitions(REQUESTS_PARTITIONS_NAME))
        new_partitions = [rid for rid in pending if rid not in known]
        runs = [
            RunRequest(partition_key=rid, run_key=rid, tags={REQUEST_ID_TAG: rid})
            for rid in pending
            # A CLI run already working on it carries the partition tag: never start a second.
            if not context.instance.get_run_ids(
                filters=RunsFilter(tags={"dagster/partition": rid}), limit=1
            )
        ]
        return SensorResult(
            run_requests=runs,
            dynamic_partitions_requests=(
                [request_partitions.build_add_request(new_partitions)] if new_partitions else []
            ),
        )

    return _sensor


def failed_runs_sensor(job: UnresolvedAssetJobDefinition) -> SensorDefinition:
    @run_failure_sensor(
        name="mark_failed_requests",
        monitored_jobs=[job],
        default_status=DefaultSensorStatus.RUNNING,
        description="A fulfilment run that failed leaves its request marked failed in the ledger.",
    )
    def _sensor(context: RunFailureSensorContext, ledger: LedgerResource) -> None:
        request_id = context.dagster_run.tags.get("dagster/partition")
        if request_id:
            steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
            record_run_failure(ledger.ledger(), request_id, context.dagster_run.run_id, steps)

    return _sensor
