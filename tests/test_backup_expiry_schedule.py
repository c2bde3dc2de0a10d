"""Backups and their expiry in frozen time, through Dagster's own evaluation APIs.

The schedules are evaluated with ``build_schedule_context(scheduled_execution_time=...)``; the
expiry job runs with the time its schedule would pass (``now`` in the run config), so nothing
here depends on the day the tests run — except that a pinned time may never be later than the
real clock, which is itself tested.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import build_schedule_context

from tests.backup_expiry_env import events, expiry_metadata, failure_text, run_expiry
from tests.dsr_env import DsrEnv, environment, make_env

TICK = datetime(2026, 10, 31, 3, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DsrEnv]:
    home = tmp_path_factory.mktemp("expiry") / "home"
    with environment(home):
        yield make_env(home, contacts=40)


@pytest.fixture(autouse=True)
def empty_store(env: DsrEnv) -> None:
    shutil.rmtree(env.settings.backups_dir, ignore_errors=True)


def backup(env: DsrEnv, region: str, when: datetime) -> str:
    """A backup of the us CRM filed under ``region``: each case gets its own region."""
    store = env.resources["backups"].store()
    return store.snapshot(region, env.crm.urls["us"], env.crm.datamap(), now=when).backup_id


# -- the schedules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tick", "partition"),
    [
        (datetime(2026, 3, 1, 2, 0, tzinfo=UTC), "2026-02-28"),  # non-leap February
        (datetime(2028, 3, 1, 2, 0, tzinfo=UTC), "2028-02-29"),  # leap day
        (datetime(2027, 1, 1, 2, 0, tzinfo=UTC), "2026-12-31"),  # year end
        (datetime(2026, 5, 1, 2, 0, tzinfo=UTC), "2026-04-30"),  # 30-day month
    ],
)
def test_the_backup_schedule_backs_up_the_day_that_just_ended(
    env: DsrEnv, tick: datetime, partition: str
) -> None:
    schedule = env.defs.resolve_schedule_def("daily_backups_schedule")
    context = build_schedule_context(instance=env.instance, scheduled_execution_time=tick)
    (run,) = schedule.evaluate_tick(context).run_requests or []
    assert run.partition_key == partition


def test_the_expiry_schedule_passes_its_tick_time_so_a_late_run_expires_as_of_the_tick(
    env: DsrEnv,
) -> None:
    old = backup(env, "late", TICK - timedelta(days=30))
    newer = backup(env, "late", TICK - timedelta(days=1))
    schedule = env.defs.resolve_schedule_def("expire_backups_job_schedule")
    context = build_schedule_context(instance=env.instance, scheduled_execution_time=TICK)
    (run,) = schedule.evaluate_tick(context).run_requests or []
    assert run.run_key == "expire-backups-2026-10-31"
    config = run.run_config["ops"]["expire_backups"]["config"]
    assert config == {"now": "2026-10-31T03:30:00+00:00"}

    # Launched weeks after its tick (today), the run still expires as of 31 October 03:30.
    result = env.defs.resolve_job_def("expire_backups_job").execute_in_process(
        run_config=run.run_config, instance=env.instance
    )
    meta = expiry_metadata(result)
    assert meta["as_of"] == "2026-10-31T03:30:00+00:00"
    assert meta["removed"] == {"late": [old]} and meta["remaining"] == {"late": [newer]}


# -- expiry at the boundaries --------------------------------------------------------------------


def test_expiry_at_29_30_and_31_days_and_never_the_only_backup(env: DsrEnv) -> None:
    ages = {
        "d29": timedelta(days=29),
        "d29h23": timedelta(days=29, hours=23),
        "d30": timedelta(days=30),
        "d31": timedelta(days=31),
    }
    old = {region: backup(env, region, TICK - age) for region, age in ages.items()}
    newer = {region: backup(env, region, TICK - timedelta(days=1)) for region in ages}
    only = backup(env, "only", TICK - timedelta(days=400))  # a region's one backup, however old

    result = run_expiry(env, TICK)
    assert result.success
    meta = expiry_metadata(result)
    assert meta["removed"] == {"d30": [old["d30"]], "d31": [old["d31"]]}
    assert meta["remaining"] == {
        "d29": [old["d29"], newer["d29"]],
        "d29h23": [old["d29h23"], newer["d29h23"]],
        "d30": [newer["d30"]],
        "d31": [newer["d31"]],
        "only": [only],
    }
    assert meta["removed_count"] == 2 and meta["remaining_count"] == 7
    audited = {e.details["backup_id"] for e in events(env.ledger, "backup_expired")}
    assert {old["d30"], old["d31"]} <= audited and only not in audited


@pytest.mark.parametrize(
    ("created", "due"),
    [
        # 30 days are 30 days of 24 hours, whatever the month: no "same day next month".
        (datetime(2025, 1, 31, 2, 0, tzinfo=UTC), datetime(2025, 3, 2, 2, 0, tzinfo=UTC)),
        (datetime(2024, 1, 31, 2, 0, tzinfo=UTC), datetime(2024, 3, 1, 2, 0, tzinfo=UTC)),
        (datetime(2025, 2, 28, 2, 0, tzinfo=UTC), datetime(2025, 3, 30, 2, 0, tzinfo=UTC)),
        (datetime(2024, 2, 28, 2, 0, tzinfo=UTC), datetime(2024, 3, 29, 2, 0, tzinfo=UTC)),
        (datetime(2024, 2, 29, 2, 0, tzinfo=UTC), datetime(2024, 3, 30, 2, 0, tzinfo=UTC)),
        (datetime(2025, 12, 31, 2, 0, tzinfo=UTC), datetime(2026, 1, 30, 2, 0, tzinfo=UTC)),
    ],
)
def test_month_ends_and_leap_years(env: DsrEnv, created: datetime, due: datetime) -> None:
    old = backup(env, "m", created)
    newer = backup(env, "m", created + timedelta(days=1))
    store = env.resources["backups"].store()
    assert store.get(old).expires_at == due  # what the proof tells the person

    minute_early = expiry_metadata(run_expiry(env, due - timedelta(minutes=1)))
    assert minute_early["removed"] == {} and minute_early["remaining"] == {"m": [old, newer]}
    on_time = expiry_metadata(run_expiry(env, due))
    assert on_time["removed"] == {"m": [old]} and on_time["remaining"] == {"m": [newer]}


def test_bad_times_are_refused_and_change_nothing(env: DsrEnv) -> None:
    old = backup(env, "bad", TICK - timedelta(days=90))
    backup(env, "bad", TICK - timedelta(days=60))
    before = len(events(env.ledger, "backup_expired"))
    for now, reason in (
        ("2999-01-01T00:00:00+00:00", "later than the clock"),
        ("2026-10-31T03:30:00", "time zone"),
        ("last tuesday", "not an ISO-8601 time"),
    ):
        result = run_expiry(env, now)
        assert not result.success and reason in failure_text(result)
    assert old in {r.backup_id for r in env.resources["backups"].store().list()}
    assert len(events(env.ledger, "backup_expired")) == before


def test_a_configured_retention_of_seven_days(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with environment(home, DSR_BACKUP_RETENTION_DAYS="7"):
        env = make_env(home, contacts=40)
        seven = backup(env, "r7", TICK - timedelta(days=7))
        almost = backup(env, "r7", TICK - timedelta(days=6, hours=23))
        newest = backup(env, "r7", TICK - timedelta(days=1))
        store = env.resources["backups"].store()
        assert store.get(seven).expires_at == TICK  # the metadata says 7 days too
        meta = expiry_metadata(run_expiry(env, TICK))
    assert meta["removed"] == {"r7": [seven]}
    assert meta["remaining"] == {"r7": [almost, newest]}
