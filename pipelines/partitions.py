"""Requests are dynamic partitions keyed by the opaque request id, never by an identity.

Each kind of request has its own set, so an asset's fill rate counts only the requests it serves:
after two accesses and one erasure the access assets read 2 of 2, the erasure assets 1 of 1.
Portability is an access request in a machine-readable format: it shares the access set.
"""

import warnings
from collections.abc import Iterable

from dagster import DagsterInstance, DynamicPartitionsDefinition, PreviewWarning

from dsr.ledger import RequestRecord, RequestType

# Partitioned asset checks (one result per request) are "preview" in Dagster 1.13; we rely on
# them knowingly.
warnings.filterwarnings(
    "ignore", "Specifying a partitions_def on an AssetCheckSpec", PreviewWarning
)

# The asset group (and fulfilment job) of each kind of request; also the partition set's prefix.
GROUP_OF_TYPE: dict[RequestType, str] = {
    RequestType.ACCESS: "access",
    RequestType.PORTABILITY: "access",
    RequestType.ERASURE: "erasure",
    RequestType.RECTIFICATION: "rectification",
    RequestType.OPT_OUT: "opt_out",
    RequestType.RESTRICTION: "restriction",
}
REQUEST_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(GROUP_OF_TYPE.values()))
# Before each kind had its own set, every request was a partition of this one; kept readable so
# an instance that still holds it can be looked through (nothing adds to it any more).
LEGACY_PARTITIONS_NAME = "requests"


def partitions_name(group: str) -> str:
    return f"{group}_requests"


PARTITIONS: dict[str, DynamicPartitionsDefinition] = {
    group: DynamicPartitionsDefinition(name=partitions_name(group)) for group in REQUEST_GROUPS
}


def partitions_for(group: str) -> DynamicPartitionsDefinition:
    return PARTITIONS[group]


def partitions_name_of(record_type: RequestType | str) -> str:
    return partitions_name(GROUP_OF_TYPE[RequestType(record_type)])


def add_request_partitions(instance: DagsterInstance, records: Iterable[RequestRecord]) -> None:
    """Each request's partition in its own kind's set (adding one twice changes nothing)."""
    by_name: dict[str, list[str]] = {}
    for record in records:
        by_name.setdefault(partitions_name_of(record.type), []).append(record.request_id)
    for name, ids in by_name.items():
        instance.add_dynamic_partitions(name, ids)


def known_request_partitions(instance: DagsterInstance) -> set[str]:
    """Every request id that is a partition of some kind's set."""
    return {
        key
        for group in REQUEST_GROUPS
        for key in instance.get_dynamic_partitions(partitions_name(group))
    }
