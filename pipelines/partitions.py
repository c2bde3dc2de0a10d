"""Requests are dynamic partitions keyed by the opaque request id, never by an identity."""

from collections.abc import Iterable

from dagster import DagsterInstance, DynamicPartitionsDefinition

from dsr.ledger import RequestRecord

REQUESTS_PARTITIONS_NAME = "requests"
request_partitions = DynamicPartitionsDefinition(name=REQUESTS_PARTITIONS_NAME)


def add_request_partitions(instance: DagsterInstance, records: Iterable[RequestRecord]) -> None:
    """Each request's partition (adding one twice changes nothing)."""
    instance.add_dynamic_partitions(REQUESTS_PARTITIONS_NAME, [r.request_id for r in records])
