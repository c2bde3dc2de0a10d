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
ERASURE_JOB = "erasure_fulfilment"
RECTIFICATION_JOB = "rectification_fulfilment"
OPT_OUT_JOB = "opt_out_fulfilment"
RESTRICTION_JOB = "restriction_fulfilment"
# Each job materialises one asset group, whose assets share the group's request partitions.
JOB_GROUPS = {
    ACCESS_JOB: "access",
    ERASURE_JOB: "erasure",
    RECTIFICATION_JOB: "rectification",
    OPT_OUT_JOB: "opt_out",
    RESTRICTION_JOB: "restriction",
}


def group_of_job(job_name: str) -> str:
    return JOB_GROUPS[job_name]


def executor_for(name: str) -> ExecutorDefinition:
    # A step per subprocess costs seconds on a small machine; request runs are short and light.
    return multiprocess_executor if name == "multiprocess" else in_process_executor


def _request_job(name: str, executor: str, description: str) -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        name,
        selection=AssetSelection.groups(JOB_GROUPS[name]),
        executor_def=executor_for(executor),
        description=description,
    )


def request_jobs(executor: str) -> list[UnresolvedAssetJobDefinition]:
    """One fulfilment job per kind of request: its own asset group, on its own partitions."""
    return [
        _request_job(
            ACCESS_JOB,
            executor,
            "Search every region for one request and assemble its export bundle.",
        ),
        _request_job(
            ERASURE_JOB,
            executor,
            "Erase the person from every region, verify, and issue a signed deletion proof.",
        ),
        _request_job(
            RECTIFICATION_JOB,
            executor,
            "Correct the person's data wherever the data map says the field lives.",
        ),
        _request_job(
            OPT_OUT_JOB,
            executor,
            "Stop marketing to the person: set the data map's suppression in every region "
            "(due within 10 business days, policy 5.3).",
        ),
        _request_job(
            RESTRICTION_JOB,
            executor,
            "Restrict processing of the person's data to storage (Art. 18): set the data "
            "map's restriction flag in every region.",
        ),
    ]
