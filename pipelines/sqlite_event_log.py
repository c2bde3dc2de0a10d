"""Dagster's SQLite event log, with each shard's SQLAlchemy engine kept instead of rebuilt.

The stock storage builds a new engine for every event it writes (two for an asset event: the
run's shard and the index shard), so each write pays for the dialect's set-up and compiles its
statements afresh; a batch run writing eight events per request spends most of its time there.
Keeping the engine keeps the compiled-statement cache. Connections are still opened per write
and closed after it (``NullPool``, as the stock storage does), so several processes may share
the files exactly as before: the webserver, the daemon and each run read and write them.
A batch of asset events (``pipelines.event_batch``: one request's materialisations, check results
and observations in a batch run) is written in one transaction per shard instead of two or three
per event, check results included; each event is stored exactly as the stock ``store_event``
stores it. The files and their schema are the stock ones; ``dagster.yaml`` names this class (see
``pipelines.instance_config``), and an instance can go back to the stock class at any time.
A refusal (``dagster.Failure``) is stored without Dagster's frames (``pipelines.refusal_events``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from pipelines.refusal_events import all_without_refusal_frames, without_refusal_frames

# What a batch may hold; any other event in it has the whole batch stored event by event.
BATCHED = {
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_OBSERVATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}
# The index shard and the runs being written now; a run's shard is rarely written after it ends.
KEPT_ENGINES = 8


class ReusedEngineSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        # The index shard's connection while a batch writes it, per thread.
        self._held = threading.local()
        self._tables_found: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict
    ) -> ReusedEngineSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=NullPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > KEPT_ENGINES:
            _, old = self._engines.popitem(last=False)
            old.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        held = getattr(self._held, "index", None) if shard == INDEX_SHARD_NAME else None
        if held is not None:  # inside a batch's index transaction (store_event_batch)
            yield held
            return
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def has_table(self, table_name: str) -> bool:
        # Asked before every check result is stored; the stock answer builds an engine each time.
        # A table found stays (migrations add tables; ``wipe`` forgets what was found).
        if table_name not in self._tables_found:
            with self._engine(INDEX_SHARD_NAME).connect() as conn:
                if not conn.dialect.has_table(conn, table_name):
                    return False
            self._tables_found.add(table_name)
        return True

    def store_event(self, event: EventLogEntry) -> None:
        super().store_event(without_refusal_frames(event))

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        events = all_without_refusal_frames(events)
        runs = {e.run_id for e in events}
        if len(runs) != 1 or any(e.dagster_event_type not in BATCHED for e in events):
            super().store_event_batch(events)  # event by event, as the stock storage does
            return
        with self.run_connection(runs.pop()) as conn:
            for event in events:
                conn.execute(self.prepare_insert_event(event))
        # Mirrored in the index shard, as store_event mirrors each one, in one transaction: the
        # check results too, which Dagster's code writes through ``index_connection``.
        with self.index_transaction() as conn:
            self._held.index = conn
            try:
                for event in events:
                    with db_result(conn, self.prepare_insert_event(event)) as result:
                        event_id = result.inserted_primary_key[0]
                    if event_id is None:
                        raise RuntimeError("the index shard gave no id for a stored asset event")
                    if event.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                        self.store_asset_check_event(event, event_id)
                    else:
                        self._store_asset_event_tags(conn, [event], [event_id])
                        self._store_asset_event(conn, event, event_id)
            finally:
                self._held.index = None

    def _forget_engines(self) -> None:
        self._tables_found.clear()
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        # The shard files go; their engines (and the record that they were set up) go with them.
        self._forget_engines()
        super().wipe()

    def dispose(self) -> None:
        self._forget_engines()
        super().dispose()
