"""Dagster's SQLite event log, with each shard's SQLAlchemy engine kept instead of rebuilt.

The stock storage builds a new engine for every event it writes (two for an asset event: the
run's shard and the index shard), so each write pays for the dialect's set-up and compiles its
statements afresh; a batch run writing eight events per request spends most of its time there.
Keeping the engine keeps the compiled-statement cache. Connections are still opened per write
and closed after it (``NullPool``, as the stock storage does), so several processes may share
the files exactly as before: the webserver, the daemon and each run read and write them.
The files and their schema are the stock ones; ``dagster.yaml`` names this class (see
``pipelines.instance_config``), and an instance can go back to the stock class at any time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

# The index shard and the runs being written now; a run's shard is rarely written after it ends.
KEPT_ENGINES = 8


class ReusedEngineSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
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
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def _forget_engines(self) -> None:
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
