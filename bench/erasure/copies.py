"""Fresh, throwaway copies of a cached benchmark CRM: an erasure changes data, the cache must not.

SQLite: the region files are copied byte for byte into a temporary folder (the write-ahead log
too when it holds anything) and flushed to disk; nothing opens the cached files. PostgreSQL:
each region's database is cloned with ``CREATE DATABASE ... TEMPLATE`` (``STRATEGY FILE_COPY``
where the server has it: a file copy rather than writing every page through WAL) and dropped
afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from resources.engines import engine_for

# (bytes or databases done, in total, what is happening)
CopyProgress = Callable[[int, int, str], None]
_CHUNK = 16 * 2**20


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise ValueError(f"not a file-backed SQLite URL: {url}")
    return Path(database)


def _files(source: Path) -> list[Path]:
    wal = source.with_name(source.name + "-wal")
    return [source, wal] if wal.is_file() and wal.stat().st_size else [source]


@contextmanager
def sqlite_copy(urls: dict[str, str], progress: CopyProgress) -> Iterator[dict[str, str]]:
    """Region -> URL of a private copy of each region's file, removed on exit."""
    sources = {region: _files(_sqlite_path(url)) for region, url in urls.items()}
    total = sum(f.stat().st_size for files in sources.values() for f in files)
    folder = Path(tempfile.mkdtemp(prefix="bench-erasure-crm-"))
    done = 0
    copies: dict[str, str] = {}
    try:
        for region, files in sources.items():
            for source in files:
                target = folder / source.name
                with source.open("rb") as src, target.open("wb") as dst:
                    while chunk := src.read(_CHUNK):
                        dst.write(chunk)
                        done += len(chunk)
                        progress(done, total, f"copying {source.name}")
                    # Flushed here, or the erasure's first checkpoint (an fsync) would pay for
                    # writing back the whole copy: a cost of the benchmark, not of erasure.
                    progress(done, total, f"syncing {source.name}")
                    os.fsync(dst.fileno())
            copies[region] = f"sqlite:///{folder / files[0].name}"
        progress(total, total, "copied")
        yield copies
    finally:
        for url in copies.values():
            engine_for(url).dispose()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_copy(
    admin_url: str, urls: dict[str, str], progress: CopyProgress
) -> Iterator[dict[str, str]]:
    """Region -> URL of a clone of each region's database, dropped on exit."""
    admin = make_url(admin_url)
    if admin.drivername == "postgresql":
        admin = admin.set(drivername="postgresql+psycopg")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    tag = uuid.uuid4().hex[:8]
    clones: dict[str, str] = {}
    try:
        with engine.connect() as conn:
            version = int(conn.exec_driver_sql("SHOW server_version_num").scalar_one())
            strategy = " STRATEGY = FILE_COPY" if version >= 150000 else ""
            for n, (region, url) in enumerate(urls.items()):
                template = make_url(url).database
                name = f"{template}_erase_{tag}"
                progress(n, len(urls), f"cloning {template}")
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}')
                clones[region] = make_url(url).set(database=name).render_as_string(False)
        progress(len(urls), len(urls), "cloned")
        yield clones
    finally:
        with engine.connect() as conn:
            for url in clones.values():
                engine_for(url).dispose()
                name = make_url(url).database
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()
