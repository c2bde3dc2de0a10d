"""The final certificate: issued by the expiry run that deletes the last backup holding the person.

A real erasure (the CLI, through Dagster) names the backups that hold Maria; the expiry job,
run as of pinned times, deletes them over two runs and then certifies — once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dsr.democrm.planted import DEMO_EMAIL
from dsr.proof.canonical import digest
from dsr.proof.certificate import STATEMENT, verify_certificate
from tests.backup_expiry_env import (
    Erased,
    backup_ids,
    certificate_file,
    cli,
    erased_environment,
    events,
    expiry_metadata,
    run_expiry,
    snapshot_all,
)

OCT_5 = datetime(2026, 10, 5, 3, 30, tzinfo=UTC)
OCT_25 = datetime(2026, 10, 25, 3, 30, tzinfo=UTC)


@pytest.fixture
def erased(tmp_path: Path) -> Iterator[Erased]:
    yield from erased_environment(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def erased_on_either_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Erased]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    yield from erased_environment(tmp_path, url)


def test_the_run_that_deletes_the_last_backup_issues_one_signed_certificate(
    erased_on_either_ledger: Erased, tmp_path: Path
) -> None:
    erased = erased_on_either_ledger
    env, rid = erased.env, erased.request_id
    proof = json.loads((env.settings.proofs_dir / f"{rid}.proof.json").read_bytes())
    named = {p["what"].split()[1] for p in proof["proof"]["pending"]}
    assert named == {*erased.first.values(), *erased.second.values()}

    # 5 October: the 1 September backups go; the 21 September ones still hold her.
    meta = expiry_metadata(run_expiry(env, OCT_5))
    assert meta["removed"] == {r: [b] for r, b in erased.first.items()}
    assert meta["remaining"] == {r: [erased.second[r], erased.after[r]] for r in erased.first}
    assert meta["certificates_issued"] == [] and meta["awaiting_certificate"] == [rid]
    assert not Path(env.settings.proofs_dir / f"{rid}.certificate.json").exists()

    # 25 October: the last of them goes, and the certificate is issued in the same run.
    meta = expiry_metadata(run_expiry(env, OCT_25))
    assert meta["removed"] == {r: [b] for r, b in erased.second.items()}
    assert meta["certificates_issued"] == [rid] and meta["awaiting_certificate"] == []
    assert backup_ids(env) == set(erased.after.values())

    path = certificate_file(env, rid)
    document = json.loads(path.read_bytes())
    body = document["certificate"]
    proof_entry = next(e for e in events(env.ledger, "deletion_proof") if e.request_id == rid)
    # Linked to the first proof in the audit chain: its body's SHA-256 and its entry's hash.
    assert body["completes"] == {
        "proof_sha256": digest(proof["proof"]),
        "audit_seq": proof_entry.seq,
        "audit_entry_hash": proof_entry.entry_hash,
    }
    deletions = {e.details["backup_id"]: e for e in events(env.ledger, "backup_expired")}
    assert {b["backup_id"] for b in body["backups"]} == named
    for held in body["backups"]:
        entry = deletions[held["backup_id"]]
        assert held["deletion_entry_hash"] == entry.entry_hash
        assert held["deleted_at"] == entry.at.isoformat(timespec="microseconds")
    assert body["statement"] == STATEMENT
    issued = events(env.ledger, "final_certificate_issued")
    assert [e.request_id for e in issued] == [rid]
    assert issued[0].details["completes_entry_hash"] == proof_entry.entry_hash
    assert document["audit_entry"]["entry_hash"] == issued[0].entry_hash
    assert DEMO_EMAIL.encode() not in path.read_bytes() and b"maria" not in path.read_bytes()

    # An auditor with only the file and our public key; then we, with our ledger.
    pem = tmp_path / "inextcrm.pub"
    pem.write_text(env.resources["ledger"].key_ring().public_key_pem())
    checked = cli("verify-proof", str(path), "--public-key", str(pem))
    assert checked["ok"] and checked["kind"] == "final_certificate"
    assert checked["request_id"] == rid and set(checked["backups"]) == named
    assert cli("verify-proof", str(path))["chain"] == "in-ledger"

    # Later runs issue nothing twice, and audit each deletion exactly once.
    again = expiry_metadata(run_expiry(env, OCT_25 + timedelta(days=1)))
    assert again["removed"] == {} and again["certificates_issued"] == []
    assert len(events(env.ledger, "final_certificate_issued")) == 1
    assert sorted(deletions) == sorted(named)
    assert len(events(env.ledger, "backup_expired")) == 4
    assert env.ledger.verify_chain().ok


def test_a_changed_byte_fails_verification_with_a_clear_sentence(
    erased: Erased, tmp_path: Path
) -> None:
    env, rid = erased.env, erased.request_id
    run_expiry(env, OCT_25)
    path = certificate_file(env, rid)
    pem = env.resources["ledger"].key_ring().public_key_pem()
    original = path.read_bytes()
    assert verify_certificate(original, pem).ok

    # One digit of a deletion time changed: still valid JSON, canonical, and well-formed.
    at = original.index(b'"deleted_at":"2') + len(b'"deleted_at":"2')
    changed = original[:at] + (b"1" if original[at : at + 1] != b"1" else b"2") + original[at + 1 :]
    path.write_bytes(changed)
    key_file = tmp_path / "inextcrm.pub"
    key_file.write_text(pem)
    report = cli("verify-proof", str(path), "--public-key", str(key_file), code=1)
    assert not report["ok"] and report["signature"] == "invalid"
    assert any("does not match the certificate" in p for p in report["problems"])
    assert any("records another certificate" in p for p in report["problems"])

    # Whitespace added: the same content, but not the bytes we signed.
    path.write_bytes(original.replace(b'"statement":"', b'"statement": "'))
    report = cli("verify-proof", str(path), "--public-key", str(key_file), code=1)
    assert report["problems"] == ["The file is not in canonical form: it was edited after writing."]
    # Another key is not ours.
    from dsr.keys import KeyRing

    other = KeyRing(tmp_path / "other-keys").public_key_pem()
    report = verify_certificate(original, other)
    assert not report.ok and report.signature == "invalid"


def test_no_certificate_while_a_backup_taken_during_the_erasure_remains(erased: Erased) -> None:
    env, rid = erased.env, erased.request_id
    # Taken while the erasure was finishing (within the clock margin restores also allow): not
    # named in the proof, but it may hold her, so the certificate waits for it too.
    during = snapshot_all(env, None)
    meta = expiry_metadata(run_expiry(env, datetime.now(UTC)))
    named = set(erased.first.values()) | set(erased.second.values())
    assert {b for ids in meta["removed"].values() for b in ids} == named
    assert set(during.values()) <= backup_ids(env)
    assert meta["certificates_issued"] == [] and meta["awaiting_certificate"] == [rid]
    assert not certificate_file(env, rid).exists()
    assert env.resources["backups"].tombstones().get(rid) is not None


def test_without_a_tombstone_every_backup_taken_before_the_proof_must_go_first(
    erased: Erased,
) -> None:
    env, rid = erased.env, erased.request_id
    # As for a closed Client account's purge, which records no keyed hashes of a person.
    stones = env.resources["backups"].tombstones()
    stones.purge_before(datetime.now(UTC) + timedelta(days=1))
    assert stones.get(rid) is None
    during = snapshot_all(env, None)  # taken as the proof was issued: it may hold anything

    meta = expiry_metadata(run_expiry(env, OCT_25))
    assert meta["certificates_issued"] == [] and meta["awaiting_certificate"] == [rid]

    store = env.resources["backups"].store()
    for backup_id in during.values():
        store.delete(backup_id)
    meta = expiry_metadata(run_expiry(env, OCT_25))
    assert meta["certificates_issued"] == [rid]
    assert verify_certificate(
        certificate_file(env, rid), env.resources["ledger"].key_ring().public_key_pem()
    ).ok
