"""One retention purge of each kind at a time, whoever starts it: the lease, `dsr purge`, the job.

The lease is tested with real racing processes on SQLite and PostgreSQL; the purges through
their public seams (the CLI and the Dagster job) on a seeded DSR_HOME on either backend.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType
from sqlalchemy import select
from typer.testing import CliRunner

from dsr.cli.main import app
from dsr.democrm.schema import clients, contacts
from dsr.ledger import State
from dsr.ledger.leases import Lease, LeaseHeld, Leases
from dsr.retention.run import PURGE_LEASE_TTL, lease_name, run_purges
from pipelines.retention import purge_context_from
from tests.dsr_env import DsrEnv, demo_environment_on
from tests.test_retention_pipeline import (
    NORTHWIND,
    TICK,
    launch,
    reopen_all_then_close,
    us_rows,
)

runner = CliRunner()
HOUR = timedelta(hours=1)
T0 = datetime(2026, 3, 1, 4, 15, tzinfo=UTC)
OPERATOR = "dsr purge (pid 4242 on host ops-1)"
SCHEDULED = "dagster run 0f1e2d3c"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- the lease itself -----------------------------------------------------------------------


def _race(url: str, names: list[str], holder: str, barrier: Any, results: Any) -> None:
    """One racing process: for each name, wait for the others, then try to take it."""
    leases = Leases(url)
    for name in names:
        barrier.wait(timeout=60)
        try:
            leases.take(name, holder, HOUR)
            results.put((name, holder, "won"))
        except LeaseHeld as exc:
            results.put((name, holder, str(exc)))
    leases.engine.dispose()


def test_of_processes_racing_for_a_lease_exactly_one_wins(db_url: str) -> None:
    leases = Leases(db_url)
    # Two leases left behind by a crashed holder an hour ago: the racers compete to take over.
    crashed = Leases(db_url, clock=Clock(datetime.now(UTC) - 7 * HOUR))
    for name in ("expired-1", "expired-2"):
        crashed.take(name, "dagster run crashed", 6 * HOUR)
    names = ["fresh-1", "fresh-2", "fresh-3", "expired-1", "expired-2"]
    racers = 4
    mp = multiprocessing.get_context("spawn")
    barrier, results = mp.Barrier(racers), mp.Queue()
    procs = [
        mp.Process(target=_race, args=(db_url, names, f"racer {i}", barrier, results))
        for i in range(racers)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in range(racers * len(names))]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    for name in names:
        won = [holder for n, holder, what in outcomes if n == name and what == "won"]
        refused = [what for n, _, what in outcomes if n == name and what != "won"]
        assert len(won) == 1, (name, outcomes)
        assert len(refused) == racers - 1
        assert all(f"{name} is held by {won[0]} since" in what for what in refused)
        current = leases.current(name)
        assert current is not None and current.holder == won[0]
    leases.engine.dispose()


def test_a_held_lease_refuses_with_who_and_until_when_and_an_expired_one_is_taken_over(
    db_url: str,
) -> None:
    clock = Clock(T0)
    leases = Leases(db_url, clock=clock)
    crashed = leases.take("retention:billing", SCHEDULED, 6 * HOUR)  # and never released

    clock.now = T0 + 5 * HOUR
    with pytest.raises(LeaseHeld) as held, leases.acquire("retention:billing", OPERATOR, HOUR):
        pytest.fail("a held lease was acquired")
    assert str(held.value) == (
        "retention:billing is held by dagster run 0f1e2d3c since 2026-03-01 04:15:00 UTC "
        "until 2026-03-01 10:15:00 UTC"
    )

    clock.now = T0 + 6 * HOUR + timedelta(seconds=1)
    with leases.acquire("retention:billing", OPERATOR, HOUR) as mine:
        assert mine.took_over is not None and mine.took_over.startswith(SCHEDULED)
        # The crashed holder coming back cannot release what is no longer its lease.
        assert leases.release(crashed) is False
        current = leases.current("retention:billing")
        assert current is not None and current.holder == OPERATOR
    assert leases.current("retention:billing") is None
    leases.engine.dispose()


def test_the_lease_is_released_when_the_work_under_it_fails(db_url: str) -> None:
    leases = Leases(db_url)
    with (
        pytest.raises(RuntimeError, match="purge broke"),
        leases.acquire("retention:closed_clients", OPERATOR, HOUR),
    ):
        assert leases.current("retention:closed_clients") is not None
        raise RuntimeError("purge broke")
    assert leases.current("retention:closed_clients") is None
    with leases.acquire("retention:closed_clients", SCHEDULED, HOUR) as lease:
        assert lease.holder == SCHEDULED and lease.took_over is None
    leases.engine.dispose()


# --- purges under the lease -----------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DsrEnv]:
    """A seeded DSR_HOME whose CRMs and ledger are SQLite files, or PostgreSQL databases."""
    with demo_environment_on(request, tmp_path / "home") as made:
        yield made


def _hold(env: DsrEnv, purge: str, holder: str) -> tuple[Leases, Lease]:
    leases = Leases(env.ledger.engine)
    return leases, leases.take(lease_name(purge), holder, PURGE_LEASE_TTL)


def _northwind(env: DsrEnv) -> list[dict[str, Any]]:
    return us_rows(env, select(contacts.c.id).where(contacts.c.client_id == NORTHWIND))


def _ledger_state(env: DsrEnv) -> tuple[list[Any], list[Any]]:
    ledger = env.ledger
    requests = [(r.request_id, r.state) for r in ledger.list_requests()]
    return requests, [e.entry_hash for e in ledger.audit_entries()]


def test_dsr_purge_refuses_a_purge_another_holder_runs_and_changes_nothing(env: DsrEnv) -> None:
    reopen_all_then_close(env, client=NORTHWIND)
    before, ledger_before = _northwind(env), _ledger_state(env)
    assert before
    leases, held = _hold(env, "closed_clients", SCHEDULED)

    result = runner.invoke(app, ["purge", "--now", TICK.isoformat(), "--json"])
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    [refused] = payload["refused"]
    assert refused["purge"] == "closed_clients"
    assert f"is held by {SCHEDULED} since" in refused["reason"]
    assert "until" in refused["reason"] and "nothing changed" in refused["reason"]
    # The other purges still ran.
    ran = {p["purge"]: p["ok"] for p in payload["purges"]}
    assert ran == {
        "closed_clients": False,
        "closed_users": True,
        "billing": True,
        "export_bundles": True,
    }
    plain = runner.invoke(app, ["purge", "--now", TICK.isoformat(), "--only", "closed_clients"])
    assert plain.exit_code == 1
    [line] = [x for x in plain.stderr.splitlines() if x.strip()]
    assert line.startswith(
        f"refused: closed_clients: not run, nothing changed: retention:closed_clients is held by "
        f"{SCHEDULED} since"
    )
    assert _northwind(env) == before and _ledger_state(env) == ledger_before
    [northwind] = us_rows(env, select(clients.c.status).where(clients.c.id == NORTHWIND))
    assert northwind["status"] == "closed"
    # The refused purges left the holder's lease alone.
    assert leases.current(lease_name("closed_clients")) == held

    leases.release(held)
    done = runner.invoke(app, ["purge", "--now", TICK.isoformat(), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["refused"] == [] and _northwind(env) == []
    [record] = env.ledger.list_requests()
    assert record.state == State.FULFILLED
    assert leases.current(lease_name("closed_clients")) is None


def test_a_dsr_purge_started_while_a_purge_is_mid_account_does_not_take_over_its_request(
    env: DsrEnv,
) -> None:
    """The known race: a second purge would resume the first's in-progress request."""
    reopen_all_then_close(env, client=NORTHWIND)
    ctx = purge_context_from(
        env.resources,
        now=TICK,
        dry_run=False,
        export_retention_days=env.settings.export_retention_days,
    )
    seen: dict[str, Any] = {}

    def meanwhile(point: str, _key: str) -> None:
        if point != "planned":
            return
        # The first purge has its request in progress and has not erased anything yet.
        state, rows = _ledger_state(env), _northwind(env)
        seen["second"] = runner.invoke(
            app, ["purge", "--now", TICK.isoformat(), "--only", "closed_clients", "--json"]
        )
        seen["unchanged"] = _ledger_state(env) == state and _northwind(env) == rows

    ctx.checkpoint = meanwhile
    [first] = run_purges(ctx, ["closed_clients"], holder=SCHEDULED)
    second = seen["second"]
    assert second.exit_code == 1, second.output
    assert [r["purge"] for r in json.loads(second.stdout)["refused"]] == ["closed_clients"]
    assert seen["unchanged"]
    assert first.ok and [i["status"] for i in first.items] == ["purged"]
    [record] = env.ledger.list_requests()
    assert record.state == State.FULFILLED
    planned = [e for e in env.ledger.audit_entries(record.request_id) if "planned" in e.event]
    assert len(planned) == 1 and _northwind(env) == []


def _step_failures(result: Any) -> dict[str, str]:
    return {
        e.step_key: e.event_specific_data.error.message
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_FAILURE
    }


def test_the_job_step_fails_with_the_holder_while_dsr_purge_runs_it(env: DsrEnv) -> None:
    reopen_all_then_close(env, client=NORTHWIND)
    before, ledger_before = _northwind(env), _ledger_state(env)
    leases, held = _hold(env, "closed_clients", OPERATOR)

    dry = launch(env, {"now": TICK.isoformat(), "dry_run": True})
    assert dry.success  # a dry run changes nothing and takes no lease

    result = launch(env, {"now": TICK.isoformat(), "dry_run": False})
    assert not result.success
    failures = _step_failures(result)
    assert set(failures) == {"purge_closed_clients"}
    assert (
        f"retention:closed_clients is held by {OPERATOR} since" in failures["purge_closed_clients"]
    )
    assert _northwind(env) == before and _ledger_state(env) == ledger_before
    assert leases.current(lease_name("closed_clients")) == held

    leases.release(held)
    again = launch(env, {"now": TICK.isoformat(), "dry_run": False})
    assert again.success and _northwind(env) == []
