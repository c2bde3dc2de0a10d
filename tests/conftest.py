"""Shared fixtures. Keep helpers in their own modules (see ``tests/pg_server.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine

from dsr.keys import KeyRing
from tests import pg_server as pg
from tests.clock import FROZEN_NOW

# Fixtures that several test modules share, kept beside the helpers they are built from.
pytest_plugins = ["tests.backup_env", "tests.proof_env"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


# --- the clock ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fixed_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts at ``FROZEN_NOW`` and the clock then runs on (``tick``), so timeouts and
    orderings behave. A test marked ``real_clock`` keeps the machine's clock; it may only be one
    whose outcome cannot depend on the date (it compares times across processes, say)."""
    if request.node.get_closest_marker("real_clock"):
        yield
        return
    with time_machine.travel(FROZEN_NOW, tick=True):
        yield


# --- keys -----------------------------------------------------------------------------------


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "keys")


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.PgServer]:
    """One throwaway server per session (per xdist worker); stopped at the end, even on failure.

    In CI the PostgreSQL tests must run, so an unavailable server fails them there; elsewhere it
    skips them with the reason.
    """
    try:
        server = pg.start()
    except (pg.PgUnavailable, OSError, TimeoutError) as exc:
        reason = f"PostgreSQL test server could not start: {exc}"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: pg.PgServer) -> Iterator[str]:
    """A fresh, empty database for one test: ``postgresql+psycopg://postgres@127.0.0.1:PORT/db``."""
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


# --- either backend -------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test once on SQLite (a file under tmp_path) and once on a fresh PG database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return str(request.getfixturevalue("pg_url"))
