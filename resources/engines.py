"""One SQLAlchemy engine per database URL per process, shared by every resource that needs it."""

from __future__ import annotations

from functools import cache

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine


@cache
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        # hide_parameters: a failing query must not carry an identity into logs or the ledger.
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL lets the CLI, the sensor and runs read while one of them writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # Deleted values must not linger in free pages (erasure relies on it).
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    # A server that does not answer is an error within seconds, not a hang at the first query.
    timeout = {} if "connect_timeout" in url else {"connect_timeout": 10}
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args=timeout)
