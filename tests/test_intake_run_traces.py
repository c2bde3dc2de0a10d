"""No identity outlives its request in Dagster: intake runs go with the erasure, or after the
retention when they registered nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from dagster import DagsterRun

from dsr.democrm.planted import DEMO_EMAIL, client_id
from dsr.ledger import RequestType, Scope
from pipelines.intake_names import REQUEST_ID_TAG, SUBJECT_HASH_TAG
from pipelines.launch import run_fulfilment
from tests.dsr_env import DsrEnv, demo_environment

TOM = "tom.becker@example.net"
NORTHWIND = str(client_id("Northwind Traders"))
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def launch(env: DsrEnv, kind: str, **config: object) -> str:
    op = f"register_{kind}_request"
    result = env.defs.resolve_job_def(f"{op}_job").execute_in_process(
        run_config={"ops": {op: {"config": config}}}, instance=env.instance, raise_on_error=False
    )
    return result.run_id


def mentions(run: DagsterRun, needle: str) -> bool:
    return needle in json.dumps(run.run_config).lower() or needle in json.dumps(dict(run.tags))


def dagster_files(env: DsrEnv) -> list[Path]:
    return [p for p in env.settings.dagster_home.rglob("*") if p.is_file()]


def test_after_her_erasure_no_run_holds_her_email_whatever_its_outcome(env: DsrEnv) -> None:
    refused = [
        launch(env, "access", email=DEMO_EMAIL, scope="client_data", client=NORTHWIND),
        launch(env, "erasure", email=DEMO_EMAIL.upper(), other_emails=["not an address"]),
    ]
    dry = launch(env, "erasure", email=DEMO_EMAIL, dry_run=True)
    toms = launch(env, "access", email=TOM, scope="client_data", client="Nowhere Inc")
    access = launch(env, "access", email=DEMO_EMAIL)
    erasure = launch(env, "erasure", email=DEMO_EMAIL, identity_verified_by="agent-7")
    assert [env.instance.get_run_by_id(r).is_failure for r in refused] == [True, True]
    assert env.instance.get_run_by_id(dry).is_success
    hashes = {env.instance.get_run_by_id(r).tags[SUBJECT_HASH_TAG] for r in (*refused, dry)}
    assert len(hashes) == 1  # her address, whatever its case or the malformed one beside it
    request_id = env.instance.get_run_by_id(erasure).tags[REQUEST_ID_TAG]
    assert any(DEMO_EMAIL.encode() in p.read_bytes().lower() for p in dagster_files(env))
    assert run_fulfilment(env.defs, env.instance, request_id, job_name="erasure_fulfilment").success

    runs = env.instance.get_runs()
    assert not [r.run_id for r in runs if mentions(r, DEMO_EMAIL)]
    assert not {*refused, dry, access, erasure} & {r.run_id for r in runs}
    assert toms in {r.run_id for r in runs}  # another person's refused form is not hers to take
    # Nor in Dagster's files: event logs, captured logs, SQLite free pages.
    assert not [p for p in dagster_files(env) if DEMO_EMAIL.encode() in p.read_bytes().lower()]


def test_the_hourly_purge_deletes_old_intake_runs_that_registered_nothing(env: DsrEnv) -> None:
    with time_machine.travel(T0, tick=True):
        old_refused = launch(env, "access", email="maria.jensen@example")
        old_dry = launch(env, "erasure", email=DEMO_EMAIL, dry_run=True)
        registered = launch(env, "access", email=DEMO_EMAIL)
    with time_machine.travel(T0 + timedelta(hours=23), tick=True):
        recent = launch(env, "opt_out", email="maria.jensen@")
    with time_machine.travel(T0 + timedelta(hours=24, minutes=30), tick=True):
        job = env.defs.resolve_job_def("purge_intake_runs_job")
        assert job.execute_in_process(instance=env.instance).success
    left = {r.run_id for r in env.instance.get_runs()}
    assert old_refused not in left and old_dry not in left
    assert {recent, registered} <= left
    assert env.ledger.get(env.instance.get_run_by_id(registered).tags[REQUEST_ID_TAG])
    schedule = env.defs.resolve_schedule_def("hourly_intake_run_purge")
    assert schedule.job_name == "purge_intake_runs_job" and schedule.cron_schedule == "23 * * * *"


def test_the_retention_is_a_setting_checked_at_start(tmp_path: Path) -> None:
    from dsr.config_checks import SettingsError
    from dsr.settings import Settings
    from tests.dsr_env import environment

    with environment(tmp_path, DSR_INTAKE_RUN_RETENTION_HOURS="6"):
        assert Settings.from_env().intake_run_retention_hours == 6
    bad = environment(tmp_path, DSR_INTAKE_RUN_RETENTION_HOURS="a day")
    with bad, pytest.raises(SettingsError, match="whole number of hours"):
        Settings.from_env()


def test_registering_through_the_ledger_and_the_form_give_the_same_subject_hash(
    env: DsrEnv,
) -> None:
    run = env.instance.get_run_by_id(launch(env, "access", email=f" {DEMO_EMAIL.upper()} "))
    record = env.ledger.get(run.tags[REQUEST_ID_TAG])
    assert run.tags[SUBJECT_HASH_TAG] == record.subject_hash
    other = env.register(TOM, type=RequestType.ACCESS, scope=Scope.USER_ACCOUNT)
    assert other.subject_hash != record.subject_hash
