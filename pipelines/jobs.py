"""Jobs: the fulfilment path every request takes, whoever registered it."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    ExecutorDefinition,
    define_asset_job,
    in_process_executor,
    multiprocess_executor,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

ACCESS_JOB = "access_fulfilment"


def executor_for(name: str) -> ExecutorDefinition:
    # A step per subprocess costs seconds on a small machine; request runs are short and light.
    return multiprocess_executor if name == "multiprocess" else in_process_executor


def access_job(executor: str) -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        ACCESS_JOB,
        selection=AssetSelection.groups("access"),
        executor_def=executor_for(executor),
        description="Search every region for one request and assemble its export bundle.",
    )
