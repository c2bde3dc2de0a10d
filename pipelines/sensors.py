"""Requests registered outside a fulfilment run (Launchpad, `dsr access --queue`) get one."""

from __future__ import annotations

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    UnresolvedAssetJobDefinition,
    sensor,
)

from dsr.ledger import RequestType, State
from pipelines.intake import REQUEST_ID_TAG
from pipelines.partitions import REQUESTS_PARTITIONS_NAME, request_partitions
from resources.ledger import LedgerResource

ACCESS_TYPES = {RequestType.ACCESS, RequestType.PORTABILITY}


def pending_requests_sensor(job: UnresolvedAssetJobDefinition):  # type: ignore[no-untyped-def]
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
