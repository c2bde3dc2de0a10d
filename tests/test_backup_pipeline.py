"""Backups through Dagster and the CLI: snapshot, erasure names them, restore re-erases."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsr.cli.main import app
from dsr.democrm.planted import DEMO_EMAIL
from tests.dsr_env import DsrEnv, demo_environment

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def dsr(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_daily_backup_job_snapshots_every_region(env: DsrEnv) -> None:
    result = env.defs.resolve_job_def("daily_backups").execute_in_process(
        partition_key="2026-01-01", instance=env.instance
    )
    assert result.success
    records = env.resources["backups"].store().list()
    assert sorted(r.region for r in records) == ["eu", "us"]
    assert all((r.expires_at - r.created_at).days == 30 for r in records)


def test_erasure_names_the_backups_and_a_restore_re_erases(env: DsrEnv, tmp_path: Path) -> None:
    taken = dsr("backup")["backups"]
    us_backup = next(b["backup_id"] for b in taken if b["region"] == "us")
    erased = dsr("erase", "--email", DEMO_EMAIL, "--verified-by", "agent-7")
    proof = json.loads(Path(erased["proof"]).read_text())["proof"]
    named = {p["what"].split()[1] for p in proof["pending"] if p["system"] == "backups"}
    assert us_backup in named  # the proof says which backups still hold her, until when

    report = dsr("restore-backup", us_backup, "--target", str(tmp_path / "restored"))
    assert report["ok"] and report["erasures_reapplied"] == 1 and report["verified"]
    restored = sqlite3.connect(tmp_path / "restored" / "us.sqlite")
    found = restored.execute(
        "SELECT count(*) FROM users WHERE lower(trim(email)) = ?", (DEMO_EMAIL,)
    ).fetchone()
    assert found == (0,)
    tom = restored.execute(
        "SELECT count(*) FROM contacts WHERE email = 'tom.becker@example.net'"
    ).fetchone()
    assert tom == (1,)


def test_a_restore_into_an_occupied_target_is_refused(env: DsrEnv, tmp_path: Path) -> None:
    us_backup = next(b["backup_id"] for b in dsr("backup")["backups"] if b["region"] == "us")
    target = tmp_path / "restored"
    dsr("restore-backup", us_backup, "--target", str(target))
    again = runner.invoke(app, ["restore-backup", us_backup, "--target", str(target)])
    assert again.exit_code == 2 and "refused or failed" in again.stderr


def test_an_access_bundle_names_the_backups_holding_her(env: DsrEnv) -> None:
    taken = {b["backup_id"] for b in dsr("backup")["backups"]}
    access = dsr("access", "--email", DEMO_EMAIL)
    with zipfile.ZipFile(access["bundle"]) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        summary = zf.read("summary.html").decode()
    # She is in both regions' CRMs, so both snapshots hold her; nothing was restored for it.
    assert {b["backup_id"] for b in manifest["backups"]} == taken
    assert all(b["backup_id"] in summary for b in manifest["backups"])
