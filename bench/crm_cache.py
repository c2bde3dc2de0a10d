"""Seeded two-region CRMs for the benchmark, built once per (backend, size, seed) and reused.

Seeding a million contacts takes about a minute per region, so a database is reused when a marker
says it was finished with the same seed; an interrupted seeding leaves no marker and is redone.
SQLite files live under ``bench/.cache/sqlite-<size>-<seed>/``; on PostgreSQL the marker is the
database's comment, so no table is added to the schema the data map is validated against.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex

from dsr.democrm.planted import plant
from dsr.democrm.schema import metadata
from dsr.democrm.seed import PLAN, seed
from dsr.democrm.world import World
from resources.engines import engine_for

REGIONS = ("us", "eu")
CACHE_DIR = Path(__file__).parent / ".cache"
MARKER = "complete.json"
# A cache seeded before a column was added would fail data-map validation: reseed on change.
SCHEMA = hashlib.sha256(
    (
        ",".join(f"{t.name}.{c.name}" for t in metadata.sorted_tables for c in t.columns)
        # Indexes too: a cache whose lookup expressions changed would be read by full scans.
        + ";".join(
            str(CreateIndex(ix).compile(dialect=sqlite.dialect()))
            for t in metadata.sorted_tables
            for ix in sorted(t.indexes, key=lambda i: str(i.name))
        )
    ).encode()
).hexdigest()[:12]
# (region, rows loaded so far, rows in total, what is happening)
SeedProgress = Callable[[str, int, int, str], None]


def total_rows(region: str, size: int, seed_value: int) -> int:
    world = World(region, size, seed_value)
    return sum(plan.rows(world) for plan in PLAN)


def _seed_one(url: str, region: str, size: int, seed_value: int, progress: SeedProgress) -> dict:
    total = total_rows(region, size, seed_value)
    loaded: dict[str, int] = {}

    def on_chunk(table: str, done: int, _table_total: int) -> None:
        loaded[table] = done
        so_far = sum(loaded.values())
        # After the last chunk seed() builds the indexes, which reports nothing for a while.
        stage = "indexing" if so_far >= total else f"loading {table}"
        progress(region, so_far, total, stage)

    engine = engine_for(url)
    counts = seed(engine, region=region, contacts=size, seed=seed_value, progress=on_chunk)
    progress(region, total, total, "planting the cast")
    plant(engine, region)
    progress(region, total, total, "ready")
    return counts


def sqlite_urls(size: int, seed_value: int, progress: SeedProgress) -> dict[str, str]:
    """Region -> SQLite URL of a seeded, planted database, seeding only what is not cached."""
    folder = CACHE_DIR / f"sqlite-{size}-{seed_value}"
    urls = {r: f"sqlite:///{(folder / f'{r}.sqlite').resolve()}" for r in REGIONS}
    marker = folder / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("schema") == SCHEMA:
        for region in REGIONS:
            progress(region, 1, 1, "cached")
        return urls
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    counts = {r: _seed_one(urls[r], r, size, seed_value, progress) for r in REGIONS}
    done = {"size": size, "seed": seed_value, "schema": SCHEMA, "rows": counts}
    marker.write_text(json.dumps(done, indent=1))
    return urls


def postgres_urls(
    admin_url: str, size: int, seed_value: int, progress: SeedProgress
) -> dict[str, str]:
    """Region -> URL of database ``bench_<region>_<size>`` on the server, seeded if needed."""
    admin = make_url(admin_url)
    if admin.drivername == "postgresql":
        admin = admin.set(drivername="postgresql+psycopg")
    done_comment = f"bench seed={seed_value} size={size} schema={SCHEMA} complete"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    urls: dict[str, str] = {}
    try:
        for region in REGIONS:
            name = f"bench_{region}_{size}"
            url = admin.set(database=name).render_as_string(hide_password=False)
            urls[region] = url
            with engine.connect() as conn:
                comment = conn.execute(
                    text(
                        "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                        "WHERE datname = :n"
                    ),
                    {"n": name},
                ).first()
                if comment is not None and comment[0] == done_comment:
                    progress(region, 1, 1, "cached")
                    continue
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            _seed_one(url, region, size, seed_value, progress)
            with engine.connect() as conn:
                conn.exec_driver_sql(f"COMMENT ON DATABASE \"{name}\" IS '{done_comment}'")
    finally:
        engine.dispose()
    return urls
