"""Helpers for the expiry tests: run the expiry job as of a pinned time, read what it reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, ExecuteInProcessResult
from typer.testing import CliRunner

from dsr.cli.main import app
from dsr.democrm.planted import DEMO_EMAIL
from dsr.ledger import Ledger
from standins.demo import DemoServices
from tests.dsr_env import DsrEnv, demo_environment, environment, make_env

runner = CliRunner()
SEPT_1 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def run_expiry(env: DsrEnv, now: datetime | str) -> ExecuteInProcessResult:
    """The expiry job as the schedule launches it: the tick's time in the run config."""
    when = now.isoformat() if isinstance(now, datetime) else now
    return env.defs.resolve_job_def("expire_backups_job").execute_in_process(
        run_config={"ops": {"expire_backups": {"config": {"now": when}}}},
        instance=env.instance,
        raise_on_error=False,
    )


def expiry_metadata(result: ExecuteInProcessResult) -> dict[str, Any]:
    """The metadata the run shows in the UI: removed, remaining, certificates issued."""
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_OUTPUT:
            data = event.event_specific_data.metadata  # type: ignore[union-attr]
            return {k: v.value for k, v in data.items()}
    raise AssertionError("the expiry step reported no output metadata")


def failure_text(result: ExecuteInProcessResult) -> str:
    """What the UI shows for the failed step: the error and the errors that caused it."""
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            error, parts = event.event_specific_data.error, []  # type: ignore[union-attr]
            while error is not None:
                parts.append(error.message)
                error = error.cause
            return "\n".join(parts)
    raise AssertionError("the run did not fail")


def events(ledger: Ledger, event: str) -> list[Any]:
    return [e for e in ledger.audit_entries() if e.event == event]


def cli(*args: str, code: int = 0) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.stdout + result.stderr
    return json.loads(result.stdout)


def backup_ids(env: DsrEnv) -> set[str]:
    return {r.backup_id for r in env.resources["backups"].store().list()}


def snapshot_all(env: DsrEnv, when: datetime | None) -> dict[str, str]:
    """A backup of every region taken at ``when``; region -> backup id."""
    store, crm = env.resources["backups"].store(), env.crm
    datamap = crm.datamap()
    return {
        region: store.snapshot(region, crm.urls[region], datamap, now=when).backup_id
        for region in env.settings.regions
    }


def proof_file(env: DsrEnv, request_id: str) -> Path:
    return env.settings.proofs_dir / f"{request_id}.proof.json"


def certificate_file(env: DsrEnv, request_id: str) -> Path:
    return env.settings.proofs_dir / f"{request_id}.certificate.json"


@dataclass
class Erased:
    env: DsrEnv
    request_id: str
    first: dict[str, str]  # region -> backup id, taken 1 September
    second: dict[str, str]  # 21 September
    after: dict[str, str]  # the nights after the erasure: they do not hold her


@contextmanager
def _home(home: Path, ledger_url: str | None) -> Iterator[DsrEnv]:
    if ledger_url is None:
        with demo_environment(home) as env:
            yield env
        return
    # As demo_environment, with the ledger (audit chain, tombstones) on PostgreSQL.
    with DemoServices() as services, environment(home, **services.env(), DSR_LEDGER_URL=ledger_url):
        env = make_env(home)
        env.services = services
        yield env


def erased_environment(tmp_path: Path, ledger_url: str | None = None) -> Iterator[Erased]:
    """Maria erased for real (CLI, Dagster) with two nights of backups holding her before."""
    with _home(tmp_path / "home", ledger_url) as env:
        first = snapshot_all(env, SEPT_1)
        second = snapshot_all(env, SEPT_1 + timedelta(days=20))
        request_id = cli("erase", "--email", DEMO_EMAIL, "--verified-by", "agent-7")["request_id"]
        # The times are labels (expiry runs as of pinned times); these sort after the erasure.
        after = snapshot_all(env, datetime.now(UTC) + timedelta(days=2))
        yield Erased(env, request_id, first, second, after)
