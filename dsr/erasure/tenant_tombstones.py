"""Tenant tombstones: closed-account purges a restored backup must re-apply, kept outside backups.

A backup taken before a closed Client's purge still holds the tenant's rows. A restore must purge
the tenant again before the copy is used, as it re-applies every person's erasure
(``dsr.erasure.tombstones``). A tenant is found by its account id, which is not personal data, so
a tenant tombstone needs no keyed hashes: the purge's request id, the region and the Client's id,
and when the purge committed.

One row per purge request: a purge that resumes after a crash records again and keeps the later
time, so every backup taken before either attempt is covered. The table lives beside the person
tombstones (the ledger database) and is purged by the expiry job once no backup older than the
purge remains.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, select, update
from sqlalchemy.engine import Engine, Row

from dsr.erasure.tombstones import rows_since
from dsr.times import aware_utc, utc

metadata = MetaData()
tenant_tombstones_table = Table(
    "dsr_tenant_tombstones",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("region", String(32), nullable=False),
    # The Client's account id (the tenant key of the data map's ``accounts.tenant``).
    Column("client_id", String(64), nullable=False),
    Column("purged_at", DateTime(timezone=True), nullable=False, index=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class TenantTombstone:
    request_id: str
    region: str
    client_id: str
    purged_at: datetime
    recorded_at: datetime


def _stone(row: Row) -> TenantTombstone:
    return TenantTombstone(
        request_id=row.request_id,
        region=row.region,
        client_id=row.client_id,
        purged_at=utc(row.purged_at),
        recorded_at=utc(row.recorded_at),
    )


class TenantTombstones:
    """The closed-account purges restores re-apply, in the database ``engine`` points at."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def record(
        self, request_id: str, region: str, client_id: str, purged_at: datetime
    ) -> TenantTombstone:
        """Record the purge of ``client_id``'s tenant in ``region``, after its commit. A second
        call for the same request (a resumed purge) keeps one row and the later time."""
        if not client_id:
            raise ValueError("a tenant tombstone needs the client id that was purged")
        when = aware_utc(purged_at, "purged_at")
        t = tenant_tombstones_table
        values = {"region": region, "client_id": str(client_id), "recorded_at": datetime.now(UTC)}
        with self.engine.begin() as conn:
            row = conn.execute(select(t).where(t.c.request_id == request_id)).first()
            if row is None:
                conn.execute(t.insert().values(request_id=request_id, purged_at=when, **values))
            elif (row.region, row.client_id) != (region, str(client_id)):
                raise ValueError(f"tenant tombstone {request_id} names another tenant")
            else:
                later = max(when, utc(row.purged_at))
                query = update(t).where(t.c.request_id == request_id)
                conn.execute(query.values(purged_at=later, **values))
        stone = self.get(request_id)
        assert stone is not None
        return stone

    def get(self, request_id: str) -> TenantTombstone | None:
        t = tenant_tombstones_table
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.request_id == request_id)).first()
        return _stone(row) if row is not None else None

    def since(self, timestamp: datetime, region: str) -> list[TenantTombstone]:
        """Purges in ``region`` that committed at or after ``timestamp``, oldest first."""
        rows = rows_since(self.engine, tenant_tombstones_table, "purged_at", timestamp, region)
        return [_stone(row) for row in rows]

    def purge_before(self, timestamp: datetime, keep: Collection[str] = ()) -> int:
        """Forget purges older than ``timestamp`` (the oldest remaining backup, less a margin),
        except the requests in ``keep`` (still waiting for their final certificate)."""
        t = tenant_tombstones_table
        query = delete(t).where(t.c.purged_at < aware_utc(timestamp, "timestamp"))
        if keep:
            query = query.where(t.c.request_id.not_in(sorted(keep)))
        with self.engine.begin() as conn:
            return int(conn.execute(query).rowcount or 0)
