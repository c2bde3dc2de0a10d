"""Requests are dynamic partitions keyed by the opaque request id, never by an identity."""

from dagster import DynamicPartitionsDefinition

REQUESTS_PARTITIONS_NAME = "requests"
request_partitions = DynamicPartitionsDefinition(name=REQUESTS_PARTITIONS_NAME)
