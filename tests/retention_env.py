"""A small seeded region for the retention tests: accounts reopened, closures set by each test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from connectors.crm.datamap import load_datamap
from connectors.crm.sql import CrmSqlConnector
from dsr.democrm.planted import client_id, plant
from dsr.democrm.schema import clients, metadata, users
from dsr.democrm.seed import seed
from dsr.erasure.tombstones import Tombstones
from dsr.keys import KeyRing
from dsr.ledger import Ledger
from dsr.retention.purges import PurgeContext
from dsr.settings import DEMO_DATAMAP

NORTHWIND = client_id("Northwind Traders")
CONTOSO = client_id("Contoso Analytics")


@dataclass
class RetentionCrm:
    engine: Engine
    ledger: Ledger
    keys: KeyRing
    home: Path
    tombstones: Tombstones

    def connector(self) -> CrmSqlConnector:
        return CrmSqlConnector("us", self.engine, load_datamap(DEMO_DATAMAP))

    def context(self, now: datetime, **kw: Any) -> PurgeContext:
        kw.setdefault("physical", "vacuum" if self.engine.dialect.name == "postgresql" else "none")
        return PurgeContext(
            connectors=[self.connector()],
            ledger=self.ledger,
            keys=self.keys,
            proofs_dir=self.home / "proofs",
            now=now,
            tombstones=kw.pop("tombstones", self.tombstones),
            **kw,
        )

    def close_client(self, cid: int, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(clients).where(clients.c.id == cid).values(status="closed", closed_at=at)
            )

    def close_user(self, uid: int, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(users).where(users.c.id == uid).values(status="closed", closed_at=at)
            )

    def rows(self, query: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def snapshot(self, *, except_client: int | None = None) -> dict[str, list[str]]:
        """Every row of every table, as text, leaving out one tenant and its Users' visits."""
        gone_users: set[int] = set()
        if except_client is not None:
            gone_users = {
                r["id"]
                for r in self.rows(select(users.c.id).where(users.c.client_id == except_client))
            }
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for table in metadata.sorted_tables:
                query = select(table)
                if except_client is not None and "client_id" in table.c:
                    query = query.where(table.c.client_id != except_client)
                elif except_client is not None and table.name == "clients":
                    query = query.where(table.c.id != except_client)
                rows = conn.execute(query).mappings().all()
                if "user_id" in table.c and "client_id" not in table.c:
                    rows = [r for r in rows if r["user_id"] not in gone_users]
                out[table.name] = sorted(repr(sorted(dict(r).items())) for r in rows)
        return out


def retention_crm(db_url: str, home: Path) -> Iterator[RetentionCrm]:
    engine = create_engine(db_url, poolclass=NullPool)
    seed(engine, region="us", contacts=120, seed=3)
    plant(engine, "us")
    # The generated world closes some accounts; each test closes exactly the ones it means.
    with engine.begin() as conn:
        conn.execute(update(clients).values(status="active", closed_at=None))
        conn.execute(update(users).values(status="active", closed_at=None))
    keys = KeyRing(home / "keys")
    ledger = Ledger(f"sqlite:///{home / 'ledger.sqlite'}", keys)
    ledger.create_schema()
    tombstones = Tombstones(f"sqlite:///{home / 'ledger.sqlite'}", keys)
    try:
        yield RetentionCrm(engine, ledger, keys, home, tombstones)
    finally:
        tombstones.close()
        ledger.close()
        engine.dispose()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
