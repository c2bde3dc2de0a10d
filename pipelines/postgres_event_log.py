"""Dagster's PostgreSQL event log, storing a refusal without Dagster's frames under it.

The same tables and behaviour as ``dagster_postgres.PostgresEventLogStorage``; the one difference
is ``pipelines.refusal_events``, as in the SQLite event log (``pipelines.sqlite_event_log``), so a
refused step reads the same on either instance. ``dagster.yaml`` names this class when
``DSR_DAGSTER_STORAGE_URL`` is set (``pipelines.instance_config``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster._core.events.log import EventLogEntry
from dagster._serdes import ConfigurableClassData
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

from pipelines.refusal_events import all_without_refusal_frames, without_refusal_frames


class RefusalAwarePostgresEventLogStorage(PostgresEventLogStorage):
    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> RefusalAwarePostgresEventLogStorage:
        # The parent builds its own class by name, not ``cls``.
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def store_event(self, event: EventLogEntry) -> None:
        super().store_event(without_refusal_frames(event))

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        super().store_event_batch(all_without_refusal_frames(events))
