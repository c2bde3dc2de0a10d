"""A backup-expiry run that dies half-way is completed by the next one.

The failures are real: an OS error deleting an archive, an OS error writing the certificate after
its audit entry was appended, and a process killed with SIGKILL after it deleted the backups and
before it issued the certificate. Afterwards: every due backup is gone, each has exactly one
``backup_expired`` audit entry, and the certificate exists once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dsr.proof.certificate import verify_certificate
from tests.backup_expiry_env import (
    Erased,
    backup_ids,
    certificate_file,
    erased_environment,
    events,
    expiry_metadata,
    failure_text,
    run_expiry,
)

OCT_25 = datetime(2026, 10, 25, 3, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def erased(tmp_path: Path) -> Iterator[Erased]:
    yield from erased_environment(tmp_path)


def named(erased: Erased) -> set[str]:
    return set(erased.first.values()) | set(erased.second.values())


def assert_completed(erased: Erased) -> None:
    """Every due backup gone, one audit entry each, one certificate that verifies."""
    env, rid = erased.env, erased.request_id
    assert backup_ids(env) == set(erased.after.values())
    per_backup = Counter(e.details["backup_id"] for e in events(env.ledger, "backup_expired"))
    assert per_backup == dict.fromkeys(named(erased), 1)
    assert [e.request_id for e in events(env.ledger, "final_certificate_issued")] == [rid]
    report = verify_certificate(
        certificate_file(env, rid),
        env.resources["ledger"].key_ring().public_key_pem(),
        ledger=env.ledger,
    )
    assert report.ok and report.chain == "in-ledger", report.problems


def test_an_archive_that_cannot_be_deleted_stops_the_run_and_the_next_run_finishes(
    erased: Erased,
) -> None:
    env = erased.env
    store = env.resources["backups"].store()
    stuck = store.get(erased.second["eu"])
    # Something else now occupies the archive's name: unlink fails with EISDIR, even for root.
    stuck.archive.unlink()
    stuck.archive.mkdir()
    (stuck.archive / "held").write_text("open elsewhere")

    result = run_expiry(env, OCT_25)
    assert not result.success
    assert f"{erased.second['eu']}: its files could not be deleted (IsADirectoryError" in (
        failure_text(result)
    )
    # Half done: the older backups are gone, the stuck one is audited but still listed.
    assert not set(erased.first.values()) & backup_ids(env)
    assert stuck.backup_id in backup_ids(env)
    audited = {e.details["backup_id"] for e in events(env.ledger, "backup_expired")}
    assert audited == {*erased.first.values(), stuck.backup_id}
    assert not certificate_file(env, erased.request_id).exists()

    shutil.rmtree(stuck.archive)
    meta = expiry_metadata(run_expiry(env, OCT_25))
    assert meta["removed"] == {"eu": [stuck.backup_id], "us": [erased.second["us"]]}
    assert meta["certificates_issued"] == [erased.request_id]
    assert_completed(erased)


def test_a_certificate_that_cannot_be_written_is_issued_by_the_next_run_once(
    erased: Erased,
) -> None:
    env, rid = erased.env, erased.request_id
    blocker = certificate_file(env, rid)
    blocker.mkdir(parents=True)
    (blocker / "x").write_text("in the way")

    result = run_expiry(env, OCT_25)
    assert not result.success
    assert f"{rid}: certificate not issued (IsADirectoryError)" in failure_text(result)
    # The deletions are done and audited; the tombstone is kept although every remaining backup
    # is newer than the erasure, because the certificate still depends on it.
    assert backup_ids(env) == set(erased.after.values())
    assert env.resources["backups"].tombstones().get(rid) is not None
    # The entry was appended before the write failed ...
    assert len(events(env.ledger, "final_certificate_issued")) == 1

    shutil.rmtree(blocker)
    meta = expiry_metadata(run_expiry(env, OCT_25))
    assert meta["removed"] == {} and meta["certificates_issued"] == [rid]
    # ... and is the one the certificate is signed with: no second entry.
    assert_completed(erased)


KILLABLE = """
import sys
from datetime import datetime
from dsr.retention.backup_expiry import expire_backups
from dsr.settings import Settings
from resources import build_resources

res = build_resources(Settings.from_env())
backups, ledger = res["backups"], res["ledger"]
expire_backups(backups.store(), backups.tombstones(), ledger.ledger(), ledger.key_ring(),
               res["proofs"].folder(), datetime.fromisoformat(sys.argv[1]))
"""


def test_a_run_killed_between_deleting_and_certifying_is_finished_by_the_next(
    erased: Erased,
) -> None:
    env, rid = erased.env, erased.request_id
    # A named pipe among the proofs: the run blocks reading it, after deleting and auditing the
    # backups and before certifying; that is where it gets killed.
    gate = env.settings.proofs_dir / f"{rid}.0000000000000000.proof.json"
    os.mkfifo(gate)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLABLE, OCT_25.isoformat()],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while backup_ids(env) != set(erased.after.values()) or (
            len(events(env.ledger, "backup_expired")) < 4
        ):
            assert proc.poll() is None, "the expiry finished before it could be killed"
            assert time.monotonic() < deadline, "the expiry never deleted the backups"
            time.sleep(0.05)
        time.sleep(0.3)  # it moves on to the proofs and blocks on the pipe
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not certificate_file(env, rid).exists()
    assert events(env.ledger, "final_certificate_issued") == []

    gate.unlink()
    meta = expiry_metadata(run_expiry(env, OCT_25))
    assert meta["removed"] == {} and meta["certificates_issued"] == [rid]
    assert_completed(erased)
