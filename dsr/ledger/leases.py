"""Leases: at most one holder at a time for a named piece of work, across processes and hosts.

A lease is a row in ``dsr_leases`` in the ledger database. Taking it is one write transaction:
insert the row, or — when a row exists whose expiry has passed — take it over by compare-and-
swap on the old holder's token. Either way exactly one of any number of racing acquirers wins,
on SQLite (writes serialised by ``BEGIN IMMEDIATE``) and on PostgreSQL (the primary key, and
a row-level re-check of the swap). Everyone else gets ``LeaseHeld``, naming who holds it since
when and until when. The expiry is what keeps a crashed holder from blocking for ever; it also
means work that outlives its ttl is no longer protected, so the ttl is chosen long.

Holders describe a process or a run ("dagster run <run id>", "dsr purge (pid N on host H)"):
never a person. Times come from the acquiring process's clock, in UTC.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from dsr.ledger.schema import WRITE_OPTION, make_engine
from dsr.times import utc

metadata = MetaData()
leases_table = Table(
    "dsr_leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    # Random per acquisition: release and takeover touch only the acquisition they mean.
    Column("token", String(32), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

_SCHEMA_LOCK_KEY = 0x1D5A_1EA5  # pg advisory lock: concurrent first uses create the table once
# A lease released between our insert and our look at it: try again, a few times at most.
_ATTEMPTS = 5


def process_holder(what: str) -> str:
    """A holder naming this process: ``what (pid N on host H)``."""
    return f"{what} (pid {os.getpid()} on host {socket.gethostname()})"


def _clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    token: str
    acquired_at: datetime
    expires_at: datetime
    # The holder whose expired lease this one took over, if any (a crashed run, usually).
    took_over: str | None = None

    def describe(self) -> str:
        return (
            f"{self.holder} since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC "
            f"until {self.expires_at:%Y-%m-%d %H:%M:%S} UTC"
        )


class LeaseHeld(RuntimeError):
    """Someone else holds the lease; nothing was done under it."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        super().__init__(f"{lease.name} is held by {lease.describe()}")


class Leases:
    """The leases of one database (the ledger's): pass its engine, or a URL."""

    def __init__(self, engine: Engine | str, clock: Callable[[], datetime] = _clock) -> None:
        self.engine = make_engine(engine) if isinstance(engine, str) else engine
        # On the ledger's SQLite engine this makes every transaction BEGIN IMMEDIATE.
        self._writer = self.engine.execution_options(**{WRITE_OPTION: True})
        self._clock = clock
        self._create_schema()

    def _create_schema(self) -> None:
        with self._writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
            metadata.create_all(conn)

    @contextmanager
    def acquire(self, name: str, holder: str, ttl: timedelta) -> Iterator[Lease]:
        """Hold ``name`` for the ``with`` block (released on exit, also on an exception), or
        raise ``LeaseHeld`` at once if someone else holds it and it has not expired."""
        lease = self.take(name, holder, ttl)
        try:
            yield lease
        finally:
            self.release(lease)

    def take(
        self,
        name: str,
        holder: str,
        ttl: timedelta,
        reclaim: Callable[[Lease], bool] | None = None,
    ) -> Lease:
        """Take ``name`` until ``release`` (or until ``ttl`` has passed); ``LeaseHeld`` if not.

        ``reclaim(current)`` says a live lease may be taken over anyway: its holder is known to
        be gone (a run that failed, a process that died) or is the taker itself.
        """
        if not name or len(name) > 100 or not holder or len(holder) > 200:
            raise ValueError("a lease needs a name (≤ 100 characters) and a holder (≤ 200)")
        if ttl <= timedelta(0):
            raise ValueError("a lease's ttl must be positive")
        for _ in range(_ATTEMPTS):
            with self._writer.begin() as conn:
                lease = self._try_take(conn, name, holder, ttl, reclaim)
            if lease is not None:
                return lease
        raise RuntimeError(f"{name}: the lease changed hands {_ATTEMPTS} times while taking it")

    def _try_take(
        self,
        conn: Connection,
        name: str,
        holder: str,
        ttl: timedelta,
        reclaim: Callable[[Lease], bool] | None,
    ) -> Lease | None:
        now = utc(self._clock())
        mine = Lease(name, holder, uuid.uuid4().hex, now, now + ttl)
        values = {k: getattr(mine, k) for k in ("name", "holder", "token")}
        values |= {"acquired_at": now, "expires_at": mine.expires_at}
        # RETURNING, not rowcount: drivers report -1 for an INSERT ... ON CONFLICT.
        if conn.execute(_insert_if_absent(conn, values)).first() is not None:
            return mine
        current = self._row(conn, name)
        if current is None:
            return None  # released in between: try again
        if current.expires_at > now and not (reclaim and reclaim(current)):
            raise LeaseHeld(current)
        # Compare-and-swap on the expired holder's token: of two takers, one swaps.
        swapped = conn.execute(
            update(leases_table)
            .where(leases_table.c.name == name, leases_table.c.token == current.token)
            .values(values)
        ).rowcount
        if swapped != 1:
            return None
        return replace(mine, took_over=current.describe())

    def release(self, lease: Lease) -> bool:
        """Give the lease back; False if it had expired and someone else has taken it over."""
        with self._writer.begin() as conn:
            gone = conn.execute(
                delete(leases_table).where(
                    leases_table.c.name == lease.name, leases_table.c.token == lease.token
                )
            ).rowcount
        return gone == 1

    def current(self, name: str) -> Lease | None:
        """Who holds ``name`` now (an expired lease included: nobody has taken it over yet)."""
        with self.engine.connect() as conn:
            return self._row(conn, name)

    @staticmethod
    def _row(conn: Connection, name: str) -> Lease | None:
        row = conn.execute(select(leases_table).where(leases_table.c.name == name)).first()
        if row is None:
            return None
        return Lease(row.name, row.holder, row.token, utc(row.acquired_at), utc(row.expires_at))


def _insert_if_absent(conn: Connection, values: dict[str, Any]) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt = postgresql.insert(leases_table).values(values).on_conflict_do_nothing()
        return stmt.returning(leases_table.c.token)
    if dialect == "sqlite":
        stmt = sqlite.insert(leases_table).values(values).on_conflict_do_nothing()
        return stmt.returning(leases_table.c.token)
    raise NotImplementedError(f"leases support sqlite and postgresql, not {dialect}")
