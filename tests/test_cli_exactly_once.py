"""`dsr run`, `dsr purge` and `dsr verify-ledger` keep the exactly-once promises on the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dsr.cli.main import app
from dsr.democrm.planted import DEMO_EMAIL
from dsr.democrm.schema import invoices
from dsr.ledger import RequestType, State
from pipelines.erasure_cleanup import CLEANUP_DONE
from resources.engines import engine_for
from tests.dsr_env import DsrEnv, demo_environment
from tests.run_env import hold_as_live_run

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def dsr(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_running_a_fulfilled_request_runs_nothing_and_finishes_its_cleanup(env: DsrEnv) -> None:
    code, done = dsr("access", "--email", DEMO_EMAIL)
    assert code == 0 and done["state"] == "fulfilled"
    rid = done["request_id"]
    runs = len(env.instance.get_run_records())
    code, again = dsr("run", rid)
    assert code == 0 and again["nothing_to_run"] and again["cleanup_finished"] is None
    assert len(env.instance.get_run_records()) == runs  # no new run, no failure in the UI
    # A crash between "fulfilled" and the cleanup left no cleanup_done entry: `dsr run` ends it.
    other = env.register(DEMO_EMAIL, type=RequestType.OPT_OUT)
    env.ledger.claim(other.request_id)
    env.ledger.transition(other.request_id, State.FULFILLED, result={})
    code, finished = dsr("run", other.request_id)
    assert code == 0 and finished["cleanup_finished"]["identities"] == 1
    cleaned = [e for e in env.ledger.audit_entries(other.request_id) if e.event == CLEANUP_DONE]
    assert len(cleaned) == 1


def test_running_a_request_another_run_holds_is_refused_and_changes_nothing(
    env: DsrEnv,
) -> None:
    record = env.register(DEMO_EMAIL)
    holder = hold_as_live_run(env.ledger, env.instance, record.request_id)
    entries = len(env.ledger.audit_entries())
    code, refused = dsr("run", record.request_id)
    assert code == 2 and holder in refused["error"] and "nothing was changed" in refused["error"]
    assert env.ledger.get(record.request_id).state == State.IN_PROGRESS
    assert len(env.ledger.audit_entries()) == entries


def billing_rows(env: DsrEnv) -> int:
    with engine_for(env.settings.crm_urls["us"]).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(invoices)).scalar_one())


def test_a_purge_as_of_the_future_is_refused_and_deletes_nothing(env: DsrEnv) -> None:
    before = billing_rows(env)
    code, refused = dsr("purge", "--only", "billing", "--now", "2045-01-01T00:00:00Z")
    assert code == 2 and "later than the clock" in refused["error"]
    assert "nothing was purged" in refused["error"]
    assert billing_rows(env) == before
    # A dry run may look ahead: it says what would go then, and changes nothing.
    code, _ = dsr("purge", "--only", "billing", "--now", "2045-01-01T00:00:00Z", "--dry-run")
    assert code == 0 and billing_rows(env) == before
    # A schedule tick a minute ahead of this host's clock is still now.
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    code, _ = dsr("purge", "--only", "billing", "--now", soon)
    assert code == 0 and billing_rows(env) == before  # nothing is seven years old yet


def test_verify_ledger_after_an_erasure(env: DsrEnv) -> None:
    code, done = dsr("erase", "--email", DEMO_EMAIL, "--verified-by", "agent-7")
    assert code == 0, done
    code, report = dsr("verify-ledger")
    assert code == 0 and report["ok"] and report["evidence_checked"] == 1, report
