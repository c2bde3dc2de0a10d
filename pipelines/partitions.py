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


def partitions_name(group: str) -> str:
    return f"{group}_requests"


PARTITIONS: dict[str, DynamicPartitionsDefinition] = {
    group: DynamicPartitionsDefinition(name=partitions_name(group)) for group in REQUEST_GROUPS
}


def partitions_for(group: str) -> DynamicPartitionsDefinition:
    return PARTITIONS[group]


def ids_by_group(records: Iterable[RequestRecord]) -> dict[str, list[str]]:
    """The requests' ids under their kind's group, groups in a stable order."""
    by_group: dict[str, list[str]] = {}
    for record in records:
        by_group.setdefault(GROUP_OF_TYPE[RequestType(record.type)], []).append(record.request_id)
    return dict(sorted(by_group.items()))


def add_request_partitions(instance: DagsterInstance, records: Iterable[RequestRecord]) -> None:
    """Each request's partition in its own kind's set (adding one twice changes nothing)."""
    for group, ids in ids_by_group(records).items():
        instance.add_dynamic_partitions(partitions_name(group), ids)


def known_request_partitions(instance: DagsterInstance) -> set[str]:
    """Every request id that is a partition of some kind's set."""
    return {
        key
        for group in REQUEST_GROUPS
        for key in instance.get_dynamic_partitions(partitions_name(group))
    }
