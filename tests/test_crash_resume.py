"""A real `dsr` process killed (SIGKILL) at every step boundary, then one `dsr run`: one outcome.

Each crash point (``dsr.faults``) sits between two things that cannot be one transaction: the
recorded resolution and the first change, a region's plan and its commit, a commit and its audit
entry, a proof's body, entry and file, "fulfilled" and the cleanup, the first Dagster set-up.
After the kill, a single ``dsr run ID`` must end the request with: exactly one proof (or bundle),
one audit entry per event, the same counts as an erasure that never crashed, a ledger that
verifies, and nothing of the person left in the ledger or staging.

The processes are separate, so the clock is the machine's (``real_clock``): nothing here depends
on the date.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsr.democrm.planted import DEMO_EMAIL
from dsr.ledger import IdentitiesForgotten, State
from dsr.ledger.integrity import verify_ledger
from dsr.proof.canonical import loads
from tests.dsr_env import DsrEnv, demo_environment, demo_environment_on

pytestmark = pytest.mark.real_clock
ROOT = Path(__file__).resolve().parents[1]
ERASE = ("erase", "--email", DEMO_EMAIL, "--verified-by", "agent-7", "--json")
ERASURE_POINTS = (
    "identities_recorded",
    "planned:us",
    "committed:us",
    "proof_body_written",
    "proof_entry_appended",
    "proof_written",
    "fulfilled",
    "cleaned",
)
ACCESS_POINTS = ("bundle_written", "fulfilled", "cleaned")


def dsr(*args: str, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line in its own process, reaching this test's stand-ins."""
    env = dict(os.environ, DSR_SERVICES="real")
    if crash:
        env["DSR_CRASH_AT"] = crash
    return subprocess.run(
        [sys.executable, "-m", "dsr.cli.main", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def proof_counts(path: Path) -> dict[str, dict]:
    proof = loads(path.read_bytes())["proof"]
    return {f"{s['system']}:{s['region']}": s["counts"] for s in proof["systems"]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """What the proof of the same erasure says when nothing crashes."""
    with demo_environment(tmp_path_factory.mktemp("reference") / "home"):
        done = dsr(*ERASE)
        assert done.returncode == 0, done.stderr[-2000:]
        return proof_counts(Path(json.loads(done.stdout)["proof"]))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def kill_at(env: DsrEnv, point: str, *args: str) -> str:
    """Run ``args`` until the process is killed at ``point``; the request it registered."""
    before = {r.request_id for r in env.ledger.list_requests()}
    killed = dsr(*args, crash=point)
    assert killed.returncode == -9, f"never reached {point}: {killed.stderr[-1500:]}"
    (request_id,) = {r.request_id for r in env.ledger.list_requests()} - before
    return request_id


def resume(request_id: str) -> dict:
    """One `dsr run`, which must finish the request (no second attempt needed)."""
    done = dsr("run", request_id, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def assert_one_outcome(env: DsrEnv, request_id: str, evidence: str) -> None:
    record = env.ledger.get(request_id)
    assert record.state == State.FULFILLED
    events = Counter(e.event for e in env.ledger.audit_entries(request_id))
    assert events["registered"] == 1 and events["cleanup_done"] == 1
    assert (
        Counter(
            e.details.get("to")
            for e in env.ledger.audit_entries(request_id)
            if e.event == "state_changed"
        )["fulfilled"]
        == 1
    )
    if evidence == "proof":
        assert events["deletion_proof"] == 1
        folder = env.settings.proofs_dir
        assert [p.name for p in folder.glob(f"*{request_id}*")] == [f"{request_id}.proof.json"]
    else:
        bundles = [p for d in env.settings.export_dirs.values() for p in d.rglob(f"*{request_id}*")]
        assert len(bundles) == 1, bundles
    report = verify_ledger(env.ledger, env.settings.proofs_dir)
    assert report.ok, report.problems
    with pytest.raises(IdentitiesForgotten):
        env.ledger.identities(request_id)
    assert env.ledger.work.items(request_id, "") == {}
    assert not (env.settings.staging_dir / request_id).exists()


@pytest.mark.parametrize("point", ERASURE_POINTS)
def test_an_erasure_killed_anywhere_ends_with_one_complete_proof(
    env: DsrEnv, reference: dict[str, dict], point: str
) -> None:
    request_id = kill_at(env, point, *ERASE)
    done = resume(request_id)
    assert done["state"] == "fulfilled"
    assert_one_outcome(env, request_id, "proof")
    assert proof_counts(Path(done["proof"])) == reference


@pytest.mark.parametrize("point", ACCESS_POINTS)
def test_an_access_request_killed_anywhere_ends_with_one_bundle(env: DsrEnv, point: str) -> None:
    request_id = kill_at(env, point, "access", "--email", DEMO_EMAIL, "--json")
    done = resume(request_id)
    assert done["state"] == "fulfilled" and Path(done["bundle"]).is_file()
    assert_one_outcome(env, request_id, "bundle")


def test_a_kill_during_the_first_dagster_set_up_heals_on_the_next_command(
    env: DsrEnv, reference: dict[str, dict]
) -> None:
    import shutil

    shutil.rmtree(env.settings.dagster_home)
    request_id = kill_at(env, "instance_setup", *ERASE)
    done = resume(request_id)
    assert_one_outcome(env, request_id, "proof")
    assert proof_counts(Path(done["proof"])) == reference


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def pg_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment_on(request, tmp_path / "home") as env:
        yield env


@pytest.mark.parametrize("point", ["committed:us", "proof_entry_appended", "fulfilled"])
def test_on_postgresql_too(pg_env: DsrEnv, reference: dict[str, dict], point: str) -> None:
    request_id = kill_at(pg_env, point, *ERASE)
    done = resume(request_id)
    assert_one_outcome(pg_env, request_id, "proof")
    assert proof_counts(Path(done["proof"])) == reference
