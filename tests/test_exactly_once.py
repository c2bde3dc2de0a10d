"""Exactly once, whatever happens: a re-run works from the recorded resolution, the one proof
counts every attempt, one run holds a request at a time, and issuing twice issues once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsr.democrm.planted import DEMO_EMAIL, client_id
from dsr.erasure.attempts import COMMITTED
from dsr.ledger import RequestType, Scope, State
from dsr.ledger.work import RESOLVED
from dsr.proof import verify_proof
from dsr.proof.canonical import loads
from dsr.proof.sign import EVENT, issue_proof
from pipelines.erasure_cleanup import CLEANUP_DONE
from pipelines.launch import run_fulfilment
from standins.server import Fault
from tests.dsr_env import DsrEnv, demo_environment
from tests.run_env import hold_as_live_run, step_failure_text

NORTHWIND = str(client_id("Northwind Traders"))
JOB = "erasure_fulfilment"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def northwind_erasure(env: DsrEnv) -> str:
    record = env.register(
        DEMO_EMAIL,
        type=RequestType.ERASURE,
        scope=Scope.CLIENT_DATA,
        client_id=NORTHWIND,
        authorization_ref="NW-DPA-1",
    )
    return record.request_id


def proof_of(env: DsrEnv, request_id: str) -> dict:
    path = Path(env.ledger.get(request_id).result["proof"])
    return loads(path.read_bytes())["proof"]


def counts(proof: dict) -> dict[str, dict]:
    return {f"{s['system']}:{s['region']}": s["counts"] for s in proof["systems"]}


def events(env: DsrEnv, request_id: str, event: str) -> list:
    return [e for e in env.ledger.audit_entries(request_id) if e.event == event]


def test_a_rerun_after_a_service_failure_counts_the_first_attempt_and_reaches_everything(
    tmp_path: Path,
) -> None:
    # The same erasure on an identical demo, without trouble: what the proof must say. (One
    # demo at a time: the Dropbox stand-in is one per process.)
    with demo_environment(tmp_path / "clean") as clean:
        reference = northwind_erasure(clean)
        assert run_fulfilment(clean.defs, clean.instance, reference, job_name=JOB).success
        expected = counts(proof_of(clean, reference))
    with demo_environment(tmp_path / "home") as env:
        resume_after_a_google_outage(env, expected)


def resume_after_a_google_outage(env: DsrEnv, expected: dict) -> None:
    request_id = northwind_erasure(env)
    assert env.services is not None
    env.services.google.server.faults.add(Fault(status=429, retry_after=0.01, times=10_000))
    first = run_fulfilment(env.defs, env.instance, request_id, job_name=JOB)
    assert not first.success
    failed = env.ledger.get(request_id)
    assert failed.state == State.FAILED and "google" in failed.failure_reason
    # The CRM committed, and the commit is recorded: in the audit log and for restores.
    assert events(env, request_id, COMMITTED)
    assert env.resources["backups"].tombstones().get(request_id) is not None
    assert env.ledger.work.get(request_id, RESOLVED) is not None

    env.services.google.server.faults.clear()
    second = run_fulfilment(env.defs, env.instance, request_id, job_name=JOB)
    assert second.success, env.ledger.get(request_id).failure_reason
    # The same proof as an erasure that never failed: the first attempt's CRM rows counted,
    # and Google's items reached through the identities recorded before the first change.
    assert counts(proof_of(env, request_id)) == expected
    assert len(events(env, request_id, EVENT)) == 1
    pem = env.resources["ledger"].key_ring().public_key_pem()
    path = Path(env.ledger.get(request_id).result["proof"])
    assert verify_proof(path, pem, ledger=env.ledger).ok
    # Cleanup is its own recorded step; the recorded resolution went with it.
    assert len(events(env, request_id, CLEANUP_DONE)) == 1
    assert env.ledger.work.get(request_id, RESOLVED) is None


def test_a_second_run_is_refused_and_does_not_fail_the_first(env: DsrEnv) -> None:
    request_id = northwind_erasure(env)
    holder = hold_as_live_run(env.ledger, env.instance, request_id)
    refused = run_fulfilment(env.defs, env.instance, request_id, job_name=JOB)
    assert not refused.success
    assert holder in step_failure_text(env.instance, refused.run_id)
    assert env.ledger.get(request_id).state == State.IN_PROGRESS
    assert not events(env, request_id, COMMITTED)


def test_a_request_left_in_progress_by_a_dead_process_is_resumed_by_the_next_run(
    env: DsrEnv,
) -> None:
    request_id = northwind_erasure(env)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    hold_as_live_run(env.ledger, env.instance, request_id, pid=gone.pid)
    result = run_fulfilment(env.defs, env.instance, request_id, job_name=JOB)
    assert result.success, step_failure_text(env.instance, result.run_id)
    assert env.ledger.get(request_id).state == State.FULFILLED


def test_issuing_again_after_a_lost_file_reuses_the_one_entry(env: DsrEnv) -> None:
    request_id = northwind_erasure(env)
    assert run_fulfilment(env.defs, env.instance, request_id, job_name=JOB).success
    path = Path(env.ledger.get(request_id).result["proof"])
    first = path.read_bytes()
    folder = path.parent
    keys = env.resources["ledger"].key_ring()
    # Issued again with a different body: the recorded proof is returned, nothing appended.
    again = issue_proof(lambda: {"not": "used"}, keys, env.ledger, folder, request_id)
    assert again.path == path and path.read_bytes() == first
    assert len(events(env, request_id, EVENT)) == 1
    # The file lost after its entry: written again from the body kept... which cleanup removed,
    # so it cannot be: refused, never a second entry.
    path.unlink()
    with pytest.raises(RuntimeError, match="cannot be written again"):
        issue_proof(lambda: {"not": "used"}, keys, env.ledger, folder, request_id)
    assert len(events(env, request_id, EVENT)) == 1
