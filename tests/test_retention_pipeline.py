"""Retention purges through Dagster and the CLI: the schedule's tick, dry runs, the sensor path."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, build_schedule_context, build_sensor_context
from sqlalchemy import select, update
from typer.testing import CliRunner

from dsr.cli.main import app
from dsr.democrm.planted import client_id, planted_id
from dsr.democrm.schema import clients, contacts, users
from dsr.ledger import State
from dsr.proof import verify_proof
from pipelines.launch import run_fulfilment
from pipelines.request_state import launch_blocker
from pipelines.retention import JOB, SCHEDULE
from resources.engines import engine_for
from tests.dsr_env import DsrEnv, demo_environment, environment, make_env

CONTOSO = client_id("Contoso Analytics")
NORTHWIND = client_id("Northwind Traders")
PRIYA_USER = planted_id("us", 1)
TICK = datetime(2026, 3, 1, 4, 15, tzinfo=UTC)
runner = CliRunner()


def reopen_all_then_close(env: DsrEnv, *, client: int | None = None, user: int | None = None):
    """Only the accounts a test names are closed (the generated world closes some of its own)."""
    when = datetime(2026, 1, 20, 9, 0)
    for region in env.settings.regions:
        with engine_for(env.settings.crm_urls[region]).begin() as conn:
            conn.execute(update(clients).values(status="active", closed_at=None))
            conn.execute(update(users).values(status="active", closed_at=None))
            if client is not None:
                conn.execute(
                    update(clients)
                    .where(clients.c.id == client)
                    .values(status="closed", closed_at=when)
                )
            if user is not None:
                conn.execute(
                    update(users).where(users.c.id == user).values(status="closed", closed_at=when)
                )


def us_rows(env: DsrEnv, query: Any) -> list[dict[str, Any]]:
    with engine_for(env.settings.crm_urls["us"]).connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def step_metadata(result: Any) -> dict[str, dict[str, Any]]:
    """op name -> its output metadata (counts, items, ...), as plain values."""
    out = {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_OUTPUT:
            data = event.event_specific_data.metadata
            out[event.step_key] = {k: getattr(v, "value", v) for k, v in data.items()}
    return out


def launch(env: DsrEnv, run_config: dict[str, Any]) -> Any:
    job = env.defs.resolve_job_def(JOB)
    return job.execute_in_process(
        run_config=run_config, instance=env.instance, raise_on_error=False
    )


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    home = tmp_path / "home"
    with environment(home):
        yield make_env(home)


def test_the_daily_schedule_purges_as_of_its_tick_and_the_next_tick_changes_nothing(
    env: DsrEnv,
) -> None:
    reopen_all_then_close(env, client=CONTOSO)
    schedule = env.defs.resolve_schedule_def(SCHEDULE)
    assert schedule.cron_schedule == "15 4 * * *" and schedule.execution_timezone == "UTC"
    with build_schedule_context(instance=env.instance, scheduled_execution_time=TICK) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.run_config == {"dry_run": False, "now": TICK.isoformat()}
    assert request.run_key == f"{SCHEDULE}:2026-03-01"

    result = launch(env, request.run_config)
    assert result.success
    meta = step_metadata(result)
    clients_step = meta["purge_closed_clients"]
    assert clients_step["now"] == TICK.isoformat() and clients_step["dry_run"] is False
    assert clients_step["counts"]["us"]["users"] == {"anonymise": 1}
    [item] = clients_step["items"]
    assert item["client_id"] == str(CONTOSO) and item["status"] == "purged"
    record = env.ledger.get(item["request_id"])
    assert record.state == State.FULFILLED and record.channel == "schedule"
    # The purge's own request is never launched as a person's erasure by the sensor.
    assert "retention_purge job runs it" in (launch_blocker(record) or "")
    assert record.scope == "client_data"
    pem = env.resources["ledger"].key_ring().public_key_pem()
    assert verify_proof(Path(record.result["proof"]), pem, ledger=env.ledger).ok
    # Nothing personal in what Dagster stores about the run.
    assert "@" not in json.dumps(meta, default=str)

    later = TICK + timedelta(days=1)
    with build_schedule_context(instance=env.instance, scheduled_execution_time=later) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    again = launch(env, request.run_config)
    assert again.success
    assert all(m["total"] == 0 for m in step_metadata(again).values())


def test_a_launchpad_dry_run_shows_what_the_real_run_then_does(env: DsrEnv) -> None:
    reopen_all_then_close(env, client=NORTHWIND, user=PRIYA_USER)
    config = {"now": TICK.isoformat()}
    northwind = select(contacts.c.id).where(contacts.c.client_id == NORTHWIND)
    before = us_rows(env, northwind)
    dry = launch(env, {**config, "dry_run": True})
    assert dry.success and us_rows(env, northwind) == before
    assert env.ledger.list_requests() == []
    real = launch(env, {**config, "dry_run": False})
    assert real.success and us_rows(env, northwind) == []
    dry_counts = {k: m["counts"] for k, m in step_metadata(dry).items()}
    real_counts = {k: m["counts"] for k, m in step_metadata(real).items()}
    assert dry_counts == real_counts
    assert real_counts["purge_closed_clients"]["us"]["contacts"] == {"delete": len(before)}
    # Priya is Northwind's: its purge empties her account, no request of her own is queued.
    assert real_counts["purge_closed_users"] == {}


def test_a_malformed_now_fails_the_run_and_changes_nothing(env: DsrEnv) -> None:
    reopen_all_then_close(env, client=NORTHWIND)
    before = us_rows(env, select(contacts.c.id))
    result = launch(env, {"now": "next tuesday", "dry_run": False})
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert failures and "ISO-8601" in failures[0].event_specific_data.error.message
    assert us_rows(env, select(contacts.c.id)) == before and env.ledger.list_requests() == []


def _bundle(folder: Path, request_id: str, generated: datetime) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{request_id}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        manifest = {"request": {"request_id": request_id}, "generated_at": generated.isoformat()}
        archive.writestr("manifest.json", json.dumps(manifest))
    return path


def test_dsr_purge_deletes_bundles_past_their_retention_with_an_audit_entry_each(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    with environment(home, DSR_EXPORT_RETENTION_DAYS="30"):
        env = make_env(home)
        us, eu = env.settings.export_dirs["us"], env.settings.export_dirs["eu"]
        ages = {"r-20260101-0000001d": 29, "r-20260101-0000001e": 30, "r-20260101-0000001f": 31}
        paths = {rid: _bundle(us, rid, TICK - timedelta(days=d)) for rid, d in ages.items()}
        eu_old = _bundle(eu, "r-20260101-000000aa", TICK - timedelta(days=90))
        stranger = us / "notes.zip"
        stranger.write_bytes(b"not a bundle")
        # Breach-impact reports name people too: they expire with the same retention.
        reports = {
            d: us / "breach" / f"breach-{TICK - timedelta(days=d):%Y%m%dT%H%M%SZ}-0a0b0c"
            for d in (29, 31)
        }
        for folder in reports.values():
            folder.mkdir(parents=True)
            (folder / "affected.csv").write_text("email\n")

        dry = runner.invoke(app, ["purge", "--dry-run", "--now", TICK.isoformat(), "--json"])
        assert dry.exit_code == 0, dry.output
        assert all(p.exists() for p in [*paths.values(), eu_old])
        real = runner.invoke(app, ["purge", "--now", TICK.isoformat(), "--json"])
        assert real.exit_code == 0, real.output

        def bundles(output: str) -> dict:
            [b] = [p for p in json.loads(output)["purges"] if p["purge"] == "export_bundles"]
            return b

        assert bundles(dry.output)["counts"] == bundles(real.output)["counts"]
        assert bundles(real.output)["counts"] == {
            "eu": {"bundles": {"delete": 1}},
            "us": {"bundles": {"delete": 2}, "breach_reports": {"delete": 1}},
        }
        assert reports[29].exists() and not reports[31].exists()
        [expired] = [e for e in env.ledger.audit_entries() if e.event == "breach_report_expired"]
        assert expired.details["breach_id"] == reports[31].name
        assert paths["r-20260101-0000001d"].exists()  # 29 days: kept
        assert (
            not paths["r-20260101-0000001e"].exists() and not paths["r-20260101-0000001f"].exists()
        )
        assert not eu_old.exists() and stranger.exists()
        entries = [e for e in env.ledger.audit_entries() if e.event == "export_bundle_expired"]
        assert sorted(e.details["bundle"] for e in entries) == [
            "r-20260101-0000001e.zip",
            "r-20260101-0000001f.zip",
            "r-20260101-000000aa.zip",
        ]
        again = runner.invoke(app, ["purge", "--now", TICK.isoformat(), "--json"])
        assert json.loads(again.output)["ok"] and bundles(again.output)["total"] == 0

        table = runner.invoke(app, ["purge", "--dry-run", "--now", TICK.isoformat()])
        assert table.exit_code == 0 and "nothing is due" in table.output


def test_dsr_purge_refuses_bad_input_and_changes_nothing(env: DsrEnv) -> None:
    reopen_all_then_close(env, client=NORTHWIND)
    before = us_rows(env, select(contacts.c.id))
    for args in (
        ["purge", "--now", "yesterday"],
        ["purge", "--now", "2026-03-01T04:15:00"],  # no time zone
        ["purge", "--only", "contacts; DROP TABLE users"],
    ):
        result = runner.invoke(app, [*args, "--json"])
        assert result.exit_code == 2, result.output
        assert json.loads(result.output)["ok"] is False
    assert us_rows(env, select(contacts.c.id)) == before and env.ledger.list_requests() == []


def test_a_closed_user_is_erased_through_the_sensor_with_her_own_proof(tmp_path: Path) -> None:
    with demo_environment(tmp_path / "home") as env:
        reopen_all_then_close(env, user=PRIYA_USER)
        colleagues = us_rows(env, select(users).where(users.c.id != PRIYA_USER))
        result = launch(env, {"now": TICK.isoformat(), "dry_run": False})
        assert result.success
        [item] = step_metadata(result)["purge_closed_users"]["items"]
        request_id = item["request_id"]

        sensor = env.defs.resolve_sensor_def("pending_requests")
        with build_sensor_context(
            instance=env.instance,
            definitions=env.defs,
            resources={"ledger": env.resources["ledger"]},
        ) as context:
            [run] = sensor(context).run_requests
        assert run.partition_key == request_id and run.job_name == "erasure_fulfilment"
        done = run_fulfilment(env.defs, env.instance, request_id, job_name=run.job_name)
        assert done.success, env.ledger.get(request_id).failure_reason

        record = env.ledger.get(request_id)
        assert record.state == State.FULFILLED
        pem = env.resources["ledger"].key_ring().public_key_pem()
        report = verify_proof(Path(record.result["proof"]), pem, email="priya.raman@northwind.test")
        assert report.ok and report.about_person, report.problems
        [priya] = us_rows(env, select(users).where(users.c.id == PRIYA_USER))
        assert priya["email"] is None and priya["full_name"] == "[erased]"
        assert us_rows(env, select(users).where(users.c.id != PRIYA_USER)) == colleagues

        # The next day's run queues nobody again: her account holds nothing left to erase.
        again = launch(env, {"now": (TICK + timedelta(days=1)).isoformat(), "dry_run": False})
        assert again.success and step_metadata(again)["purge_closed_users"]["total"] == 0
        assert [r.request_id for r in env.ledger.list_requests()] == [request_id]
