"""What `dsr` prints tells the truth: the CLI, the dry run, the proof and `dsr status` agree on
every count; what a processor still has to erase is shown; every command speaks JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsr.democrm.planted import DEMO_EMAIL
from tests.cli_env import NORTHWIND, dsr, dsr_json
from tests.dsr_env import DsrEnv, demo_environment

NW = ["--scope", "client_data", "--client", NORTHWIND, "--authorization", "NW-DPA-2026-01"]
PRIYA = "priya.raman@northwind.test"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def _kept_in_proof(proof: Path, region: str) -> int:
    systems = json.loads(proof.read_text())["proof"]["systems"]
    section = next(s for s in systems if s["system"] == "crm" and s["region"] == region)
    return sum(k["rows"] for k in section["kept"])


def test_kept_rows_agree_in_the_dry_run_the_cli_the_proof_and_status(env: DsrEnv) -> None:
    plan = dsr_json("erase", "--email", DEMO_EMAIL, "--dry-run")["plan"]["crm:us"]
    planned_kept = sum(actions.get("keep", 0) for actions in plan.values())
    assert plan["payment_methods"] == {"keep": 1} and planned_kept == 4

    done = dsr_json("erase", "--email", DEMO_EMAIL, "--verified-by", "agent-1")
    assert done["actions_per_system"]["crm:us"]["kept"] == planned_kept
    assert _kept_in_proof(Path(done["proof"]), "us") == planned_kept

    status = dsr_json("status", done["request_id"])
    assert status["result"]["actions_per_system"]["crm:us"]["kept"] == planned_kept
    human = dsr("status", done["request_id"])
    assert human.code == 0
    assert "erasure: crm:us: anonymised 1, deleted 5, kept 4, redacted 1" in human.out
    assert "rows found: crm:us: 10" in human.out


def test_what_a_processor_must_still_erase_is_shown_on_the_cli_and_in_status(env: DsrEnv) -> None:
    human = dsr("erase", "--email", DEMO_EMAIL, *NW)
    assert human.code == 0, human
    assert "fulfilled; 4 item(s) still pending" in human.out
    assert "pending gotomeeting:us: attendee records" in human.out
    assert "requested from gotomeeting (processor), not yet confirmed erased" in human.out
    request_id = next(w for w in human.out.split() if w.startswith("r-"))

    status = dsr_json("status", request_id)
    assert {(p["system"], p["status"]) for p in status["pending"]} == {
        ("google:us", "requested_from_processor"),
        ("gotomeeting:us", "requested_from_processor"),
    }
    assert len(status["pending"]) == 4
    shown = dsr("status", request_id).out
    assert (
        shown.count("pending: ") == 4 and "pending: google:us: 1 Google 'other contacts'" in shown
    )


def test_a_failed_run_is_one_line_naming_dagsters_log_file(env: DsrEnv) -> None:
    wrong = {"DSR_CREDENTIAL_INTEGRATIONS_US_NORTHWIND_GOOGLE": "not-the-token"}
    failed = dsr("access", "--email", DEMO_EMAIL, *NW, env=wrong)
    assert failed.code == 1
    assert len(failed.err_lines) == 1, failed.err
    line = failed.err_lines[0]
    assert line.startswith("error: request r-") and "is failed: google search failed" in line
    log = Path(line.rsplit("Dagster's log of the run: ", 1)[1])
    assert log.parent == env.settings.home / "logs" and "STEP_FAILURE" in log.read_text()
    assert "Traceback" not in failed.err and "dagster - ERROR" not in failed.err

    verbose = dsr("--verbose", "access", "--email", DEMO_EMAIL, *NW, env=wrong)
    assert verbose.code == 1 and "STEP_FAILURE" in verbose.err  # Dagster's log on the terminal


def test_queued_requests_say_how_to_run_them(env: DsrEnv) -> None:
    queued = dsr("access", "--email", DEMO_EMAIL, "--queue")
    request_id = next(w for w in queued.out.split() if w.startswith("r-"))
    assert f"dsr run {request_id}" in queued.out
    waiting = dsr_json("erase", "--email", DEMO_EMAIL, "--queue")
    assert waiting["next"] == f"dsr run {waiting['request_id']}"
    assert "dsr verify-identity" in waiting["waiting_for"]


def test_extensions_count_the_months_already_granted(env: DsrEnv) -> None:
    request_id = dsr_json("access", "--email", DEMO_EMAIL, "--queue")["request_id"]
    why = ["--reason", "archive search", "--notified-via", "SUP-1"]
    too_long = dsr("extend", request_id, "--months", "3", *why)
    assert too_long.code == 2
    assert "allows an extension of at most 2 months in total" in too_long.err
    assert "0 month" not in too_long.err

    assert dsr_json("extend", request_id, "--months", "1", *why)["extension_months"] == 1
    again = dsr("extend", request_id, "--months", "2", *why)
    assert again.code == 2 and "already extended by 1 month(s)" in again.err
    assert "at most --months 1 more" in again.err
    assert dsr_json("extend", request_id, "--months", "1", *why)["extension_months"] == 2
    last = dsr("extend", request_id, "--months", "1", *why)
    assert last.code == 2 and "it cannot be extended again" in last.err
    assert "extended: 2 month(s)" in dsr("status", request_id).out


def test_lifting_a_restriction_names_the_one_that_keeps_rows_flagged(env: DsrEnv) -> None:
    first = dsr_json(
        "restrict", "--email", PRIYA, "--grounds", "legal_claims", "--verified-by", "a-1"
    )
    other = dsr_json(
        "restrict", "--email", PRIYA, "--grounds", "objection_pending", "--queue"
    )  # registered, waiting for a verified identity: never run
    lift = ["--reason", "claim settled", "--notified-via", "SUP-2", "--by", "agent-1"]
    shown = dsr("lift-restriction", first["request_id"], *lift)
    assert shown.code == 0, shown
    assert f"flagged for restriction {other['request_id']} (received)" in shown.out
    lifted = dsr_json("status", first["request_id"])["result"]["lifted"]
    assert lifted["kept_for"] == [other["request_id"]]


def test_every_command_speaks_json(env: DsrEnv, tmp_path: Path) -> None:
    key = dsr_json("public-key")
    assert key["public_key"].startswith("-----BEGIN PUBLIC KEY-----") and key["ok"]

    demo = dsr_json("demo")
    assert demo["ok"] and demo["state"] == "fulfilled"
    assert demo["demo"]["person"] == DEMO_EMAIL
    assert demo["demo"]["client"] == {
        "client_id": NORTHWIND,
        "name": "Northwind Traders",
        "region": "us",
    }

    fresh = dsr_json("seed", "--contacts", "20", env={"DSR_HOME": str(tmp_path / "fresh")})
    assert fresh["urls"] == {
        region: f"sqlite:///{tmp_path / 'fresh' / 'crm' / f'{region}.sqlite'}"
        for region in ("us", "eu")
    }
