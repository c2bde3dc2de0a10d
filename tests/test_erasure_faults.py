"""Erasure under faults, and what must not survive it.

Each database is changed in one transaction for the whole batch: whatever goes wrong (a killed
connection, a locked database, a failing step), the database is as before, the error says where
and why, and it names no person. A text changed since discovery is redacted as it is now. After
a successful erasure, the erased address is in no database file (SQLite) and in no live file of
the database (PostgreSQL, after VACUUM FULL) — the WAL is the documented exception.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text, update
from sqlalchemy.engine import Connection

from connectors.base import Findings, Identity
from connectors.crm.sql import CrmSqlConnector
from connectors.identities import parse_identity
from dsr.democrm.planted import DEMO_EMAIL, PEOPLE, client_id, planted_id
from dsr.democrm.schema import notes
from dsr.erasure.crm import CrmEraser, ErasureFailed
from tests.test_erasure import Demo, build_demo, erase_everywhere, hasher, snap

CAST = ("maria", "tom", "priya")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Demo]:
    yield build_demo(request, tmp_path, request.param)


def batch(connector: CrmSqlConnector, scope: str = "all") -> tuple[dict[str, Findings], dict]:
    """Findings and identities for several planted people at once, as one batch."""
    subjects = {key: {parse_identity("email", PEOPLE[key].emails[0])} for key in CAST}
    found = connector.find(subjects, scope=scope)
    return found, {key: f.identities for key, f in found.items()}


def run_batch(eraser: CrmEraser, found: dict[str, Findings], identities: dict) -> dict:
    return eraser.apply(list(eraser.plan_many(found).values()), identities)


def assert_names_nobody(exc: BaseException) -> None:
    message = str(exc).lower()
    for person in PEOPLE.values():
        assert all(e.lower() not in message for e in person.emails)
        assert person.name.lower() not in message
    assert exc.__cause__ is None and exc.__suppress_context__


def hook_at(step_prefix: str, action: Callable[[Connection], None]) -> Callable:
    fired: list[str] = []

    def hook(step: str, conn: Connection) -> None:
        if step.startswith(step_prefix) and not fired:
            fired.append(step)
            action(conn)

    hook.fired = fired  # type: ignore[attr-defined]
    return hook


def test_a_step_failing_mid_batch_rolls_everything_back(demo: Demo) -> None:
    found, identities = batch(demo.connectors["us"])
    before = snap(demo, "us")

    def boom(conn: Connection) -> None:
        raise RuntimeError("injected fault")

    hook = hook_at("delete", boom)
    eraser = CrmEraser(demo.connectors["us"], hasher=hasher, step_hook=hook)
    with pytest.raises(ErasureFailed, match=r"region 'us' failed while deleting rows of \w+"):
        run_batch(eraser, found, identities)
    assert hook.fired  # type: ignore[attr-defined]
    assert snap(demo, "us") == before


def test_the_same_batch_without_the_fault_commits_for_everyone(demo: Demo) -> None:
    found, identities = batch(demo.connectors["us"])
    applied = run_batch(CrmEraser(demo.connectors["us"], hasher=hasher), found, identities)
    assert set(applied) == set(CAST)
    assert applied["maria"]["contacts"]["delete"] == 1
    assert applied["tom"]["contacts"]["delete"] == 1
    after = snap(demo, "us")
    assert ("contacts", str(planted_id("us", 1))) not in after
    assert ("contacts", str(planted_id("us", 2))) not in after


@pytest.mark.postgres
def test_postgresql_backend_killed_mid_erasure_leaves_the_database_unchanged(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    demo = build_demo(request, tmp_path, "postgresql")
    engine = demo.engine("us")
    found, identities = batch(demo.connectors["us"])
    before = snap(demo, "us")
    killed: list[int] = []

    def kill(conn: Connection) -> None:
        victim = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        killed.append(int(victim))

    # The first delete: rows were already redacted and emptied, and more deletes follow.
    eraser = CrmEraser(demo.connectors["us"], hasher=hasher, step_hook=hook_at("delete", kill))
    with pytest.raises(ErasureFailed) as err:
        run_batch(eraser, found, identities)
    assert killed
    assert err.value.connection_lost and not err.value.outcome_unknown
    assert "the database connection was lost" in str(err.value)
    assert "rolled back and nothing in this database changed" in str(err.value)
    assert_names_nobody(err.value)
    assert snap(demo, "us") == before
    # The pool recovers: the same erasure then goes through.
    run_batch(CrmEraser(demo.connectors["us"], hasher=hasher), found, identities)
    assert snap(demo, "us") != before


def test_sqlite_locked_by_another_writer_changes_nothing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    demo = build_demo(request, tmp_path, "sqlite")
    path = demo.files["us"]
    # A short busy timeout: the production engine waits 30 s for the lock.
    impatient = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.2})
    connector = CrmSqlConnector("us", impatient, demo.connectors["us"].datamap)
    found, identities = batch(connector)
    before = snap(demo, "us")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(ErasureFailed) as err:
            run_batch(CrmEraser(connector, hasher=hasher), found, identities)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        impatient.dispose()
    assert err.value.stage == "starting the transaction"
    assert "SQLITE_BUSY" in str(err.value) and "database is locked" in str(err.value)
    assert_names_nobody(err.value)
    assert snap(demo, "us") == before


def test_sqlite_connection_closed_mid_erasure_changes_nothing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    demo = build_demo(request, tmp_path, "sqlite")
    found, identities = batch(demo.connectors["us"])
    before = snap(demo, "us")

    def close(conn: Connection) -> None:
        conn.connection.driver_connection.close()  # type: ignore[union-attr]

    eraser = CrmEraser(demo.connectors["us"], hasher=hasher, step_hook=hook_at("delete", close))
    with pytest.raises(ErasureFailed, match="rolled back") as err:
        run_batch(eraser, found, identities)
    assert_names_nobody(err.value)
    assert snap(demo, "us") == before


def test_a_text_changed_since_discovery_is_redacted_as_it_is_now(demo: Demo) -> None:
    us = demo.connectors["us"]
    maria = {parse_identity("email", DEMO_EMAIL)}
    cid = str(client_id("Northwind Traders"))
    found = us.find({"maria": maria}, scope="client_data", client_id=cid)["maria"]
    note = planted_id("us", 2)
    assert ("notes", str(note)) in {(m.ref.table, m.ref.pk) for m in found.mentions}
    edited = (
        "Update: Maria Jensen moved on; reach Tom at +1 415 555 0177. Maria Jensen: 415-555-0142."
    )
    with us.engine.begin() as conn:
        conn.execute(update(notes).where(notes.c.id == note).values(body=edited))
    result = CrmEraser(us, hasher=hasher).erase(found, maria, scope="client_data", client_id=cid)
    with us.engine.connect() as conn:
        body = conn.execute(notes.select().where(notes.c.id == note)).mappings().one()["body"]
    # The stale spans would have cut the new text apart; the new ones hit exactly her mentions.
    assert body == (
        "Update: [redacted] moved on; reach Tom at +1 415 555 0177. [redacted]: [redacted]."
    )
    assert result.verification.ok


def test_plans_from_another_region_or_without_identities_are_refused(demo: Demo) -> None:
    us, eu = demo.connectors["us"], demo.connectors["eu"]
    found, identities = batch(us, scope="user_account")
    plans = list(CrmEraser(us, hasher=hasher).plan_many(found).values())
    before = snap(demo, "eu")
    with pytest.raises(ValueError, match="region 'us' given to region 'eu'"):
        CrmEraser(eu, hasher=hasher).apply(plans, identities)
    empty: dict[str, set[Identity]] = {}
    with pytest.raises(ValueError, match="no identities to re-find its mentions"):
        CrmEraser(us, hasher=hasher).apply(plans, empty)
    assert snap(demo, "eu") == before


# -- physically gone -----------------------------------------------------------------------------


def _erase_her_from_us(demo: Demo) -> set[str]:
    touched: set[str] = set()
    for scope, client in (("user_account", None), ("client_data", "Northwind Traders")):
        _, results = erase_everywhere(demo, scope, client)
        assert results["us"].verification.ok
        touched |= set(results["us"].physically_cleaned)
    return touched


NEEDLE = DEMO_EMAIL.encode()


def _holds_needle(files: list[Path]) -> list[str]:
    return [p.name for p in files if p.is_file() and NEEDLE in p.read_bytes().lower()]


def test_sqlite_files_hold_no_byte_of_her_address_afterwards(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    demo = build_demo(request, tmp_path, "sqlite")
    db = demo.files["us"]
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    assert _holds_needle(files), "the check must see the address before the erasure"
    _erase_her_from_us(demo)
    assert _holds_needle(files) == []
    assert db.with_name(db.name + "-wal").stat().st_size == 0  # checkpointed and truncated


@pytest.mark.postgres
def test_postgresql_tables_are_vacuumed_and_their_files_clean(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    demo = build_demo(request, tmp_path, "postgresql")
    engine = demo.engine("us")
    data_dir = request.getfixturevalue("pg_server").data_dir
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        # Fresh statistics sample her rows too: pg_statistic must not keep them afterwards.
        conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("CHECKPOINT")
        oid = conn.exec_driver_sql("SELECT oid FROM pg_database WHERE datname = current_database()")
        db_dir = data_dir / "base" / str(oid.scalar())
    assert _holds_needle(sorted(db_dir.iterdir())), "the check must see the address before"
    touched = _erase_her_from_us(demo)
    assert {"users", "invoices", "contacts", "notes", "support_tickets"} <= touched
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("CHECKPOINT")
        stats = conn.exec_driver_sql(
            "SELECT relname, last_vacuum, n_dead_tup FROM pg_stat_user_tables"
        ).all()
    # last_vacuum, not n_dead_tup: the erasure's own backend reports its dead tuples lazily
    # (PostgreSQL 15 flushes pending statistics up to seconds later), after VACUUM reported 0.
    vacuumed = {name for name, last, _ in stats if last is not None}
    assert touched <= vacuumed
    assert _holds_needle(sorted(db_dir.iterdir())) == []
