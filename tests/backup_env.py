"""A small seeded region for the backup tests, the fixtures that hold it (``crm``, ``store``,
``stones``; registered in ``tests/conftest.py``) and the helpers the tests share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from connectors.crm.datamap import DataMap, load_datamap
from connectors.crm.sql import CrmSqlConnector
from connectors.identities import parse_identity
from dsr.democrm.planted import DEMO_EMAIL, PEOPLE, client_id, plant
from dsr.democrm.seed import seed
from dsr.erasure.crm import CrmEraser
from dsr.erasure.restore import BackupStore, Tombstones
from dsr.keys import KeyRing
from dsr.settings import DEMO_DATAMAP
from tests.pg_server import PgServer

MARIA = {parse_identity("email", DEMO_EMAIL)}
NORTHWIND = str(client_id("Northwind Traders"))
T0 = datetime(2026, 11, 24, 22, 15, tzinfo=UTC)


@dataclass
class Crm:
    backend: str
    url: str
    engine: Engine
    datamap: DataMap
    server: PgServer | None
    databases: list[str] = field(default_factory=list)

    def connector(self, engine: Engine | None = None) -> CrmSqlConnector:
        return CrmSqlConnector("us", engine or self.engine, self.datamap)

    def store(self, root: Path, keys: KeyRing) -> BackupStore:
        return BackupStore(root, keys, pg_bin_dir=self.server.bin_dir if self.server else None)

    def fresh_target(self, tmp_path: Path) -> str:
        """An empty place to restore into: a folder, or a new PostgreSQL database."""
        if self.server is None:
            return str(tmp_path / "restored")
        name = self.server.create_database()
        self.databases.append(name)
        return self.server.url(name)

    def restored_engine(self, target: str) -> Engine:
        url = f"sqlite:///{Path(target) / 'us.sqlite'}" if self.server is None else target
        return create_engine(url, poolclass=NullPool)

    def restored_rows(self, target: str) -> dict[tuple[str, str], dict[str, Any]]:
        """``rows`` of the copy restored into ``target``."""
        engine = self.restored_engine(target)
        try:
            return rows(engine, self.datamap)
        finally:
            engine.dispose()


def seeded_crm(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[Crm]:
    """One small seeded region (us) with the planted cast; databases dropped afterwards."""
    server: PgServer | None = None
    if backend == "sqlite":
        crm_url = f"sqlite:///{tmp_path / 'us.sqlite'}"
        databases = []
    else:
        server = request.getfixturevalue("pg_server")
        databases = [server.create_database()]
        crm_url = server.url(databases[0])
    engine = create_engine(crm_url, poolclass=NullPool)
    seed(engine, region="us", contacts=120, seed=3)
    plant(engine, "us")
    crm = Crm(backend, crm_url, engine, load_datamap(DEMO_DATAMAP), server, databases)
    yield crm
    engine.dispose()
    for name in crm.databases:
        server.drop_database(name)  # type: ignore[union-attr]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def crm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Crm]:
    """The seeded region, on each backend."""
    yield from seeded_crm(request, tmp_path, request.param)


@pytest.fixture
def store(tmp_path: Path, keys: KeyRing, crm: Crm) -> BackupStore:
    return crm.store(tmp_path / "backups", keys)


@pytest.fixture
def stones(tmp_path: Path, keys: KeyRing) -> Iterator[Tombstones]:
    """The tombstones (and suppressions), in a ledger database of their own."""
    made = Tombstones(f"sqlite:///{tmp_path / 'ledger.sqlite'}", keys)
    yield made
    made.close()


def eraser_factory(keys: KeyRing, **kw: Any) -> Any:
    return lambda connector: CrmEraser(connector, hasher=keys.keyed_hash, **kw)


def rows(engine: Engine, datamap: DataMap) -> dict[tuple[str, str], dict[str, Any]]:
    """Every row of every mapped table, by (table, primary key)."""
    connector = CrmSqlConnector("us", engine, datamap)
    out = {}
    with engine.connect() as conn:
        for name, tmap in datamap.tables.items():
            for row in conn.execute(select(connector.table(name))).mappings():
                out[(name, str(row[tmap.primary_key]))] = dict(row)
    return out


def erase_live(crm: Crm, keys: KeyRing, stones: Tombstones) -> None:
    """Erase Maria as the pipeline does (user account, then Northwind's data), with tombstones."""
    connector = crm.connector()
    eraser = CrmEraser(connector, hasher=keys.keyed_hash)
    for scope, client in (("user_account", None), ("client_data", NORTHWIND)):
        found = connector.find({"maria": MARIA}, scope=scope, client_id=client)["maria"]
        result = eraser.erase(found, MARIA, scope=scope, client_id=client)
        assert result.verification.ok and result.changed > 0
        # After the commit, with every identity the request resolved.
        stones.record(f"r-{scope}", found.identities, scope, client, datetime.now(UTC))


def plain_needles() -> list[bytes]:
    """The planted cast's e-mail addresses, phone digits and names, lower-cased."""
    needles = []
    for person in PEOPLE.values():
        needles += [e.lower().encode() for e in person.emails]
        needles += [p.lstrip("+").encode() for p in person.phones]
        needles.append(person.name.lower().encode())
    return needles
