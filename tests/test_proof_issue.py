"""Deletion proofs, issuing: signed into the audit chain, with no identity in the file, checkable
against an e-mail address, never over a failed step, and a final certificate that supersedes the
first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsr.keys import KeyRing
from dsr.ledger import Ledger, UnknownRequest
from dsr.proof import build_proof, canonical_bytes, issue_proof, verify_proof
from tests.proof_env import CHEAP, SECRETS, SUBJECT, body_for, crm_section, proof_request

# --- issuing ----------------------------------------------------------------------------------


def test_issued_proof_is_signed_chained_and_verifies(
    ledger: Ledger, keys: KeyRing, tmp_path: Path
) -> None:
    body = body_for(ledger)
    result = issue_proof(body, keys, ledger, tmp_path / "proofs")
    rid = body["request"]["id"]
    assert result.path == tmp_path / "proofs" / f"{rid}.proof.json"
    assert sorted(p.name for p in result.path.parent.iterdir()) == [result.path.name]
    doc = json.loads(result.path.read_bytes())
    assert result.path.read_bytes() == canonical_bytes(doc)
    assert set(doc) == {"proof", "audit_entry", "signature"}
    entry = ledger.audit_entries(rid)[-1]
    assert (entry.seq, entry.event, entry.details) == (
        result.audit_seq, "deletion_proof", {"proof_sha256": result.sha256}
    )  # fmt: skip
    assert doc["audit_entry"]["entry_hash"] == entry.entry_hash
    assert doc["signature"]["public_key"] == keys.public_key_pem()

    trusted = verify_proof(result.path, keys.public_key_pem())
    assert trusted.ok, trusted.problems
    assert (trusted.signature, trusted.chain, trusted.about_person) == ("valid", "consistent", None)
    assert trusted.proof_sha256 == result.sha256 and trusted.request_id == rid

    alone = verify_proof(result.path.read_bytes())
    assert alone.ok and alone.signature == "untrusted-key"
    assert any("embedded" in n for n in alone.notes)

    in_ledger = verify_proof(result.path, keys.public_key_pem(), ledger=ledger)
    assert in_ledger.ok and in_ledger.chain == "in-ledger"


def test_proof_file_holds_no_identity(issued: Path) -> None:
    raw = issued.read_bytes()
    assert b"@" not in raw
    for secret in SECRETS:
        assert secret.encode() not in raw.lower()


def test_about_person_matches_any_spelling_of_the_email(issued: Path, keys: KeyRing) -> None:
    pem = keys.public_key_pem()
    yes = verify_proof(issued, pem, email="MARIA.JENSEN@example.ORG  ")
    assert yes.ok and yes.about_person is True
    no = verify_proof(issued, pem, email="maria.jensen@example.com")
    assert not no.ok and no.about_person is False
    assert "not about the e-mail address" in " ".join(no.problems)
    with pytest.raises(ValueError, match="e-mail"):
        verify_proof(issued, pem, email="not an address")


def test_default_kdf_cost_is_recorded_and_checkable(
    ledger: Ledger, keys: KeyRing, tmp_path: Path
) -> None:
    body = body_for(ledger, kdf_cost=2**14)
    assert body["subject"]["kdf"]["n"] == 2**14
    path = issue_proof(body, keys, ledger, tmp_path).path
    report = verify_proof(path, keys.public_key_pem(), email="maria.jensen@example.org")
    assert report.ok and report.about_person is True and not report.notes


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": "failed"}, "failed"),
        ({"verification": {"ok": False, "searched_identities": 3, "remaining": [],
                           "unexpected": 1}}, "did not verify"),
    ],
)  # fmt: skip
def test_no_proof_over_a_failed_step(
    ledger: Ledger, keys: KeyRing, tmp_path: Path, change: dict, reason: str
) -> None:
    body = body_for(ledger, crm_section("eu"), crm_section("us", **change))
    before = len(ledger.audit_entries())
    with pytest.raises(ValueError, match=reason):
        issue_proof(body, keys, ledger, tmp_path / "proofs")
    assert len(ledger.audit_entries()) == before
    assert not (tmp_path / "proofs").exists() or not any((tmp_path / "proofs").iterdir())


def test_unknown_request_is_refused_by_the_ledger(
    ledger: Ledger, keys: KeyRing, tmp_path: Path
) -> None:
    body = body_for(ledger)
    body["request"]["id"] = "r-20300101-0123abcd"
    with pytest.raises(UnknownRequest):
        issue_proof(body, keys, ledger, tmp_path / "proofs")
    assert list((tmp_path / "proofs").iterdir()) == []  # no stray temporary file


def test_final_certificate_supersedes_and_keeps_the_first(
    ledger: Ledger, keys: KeyRing, tmp_path: Path
) -> None:
    req = proof_request(ledger)
    pending = [{"system": "backups", "what": "snapshot", "status": "expiring",
                "expires_at": "2030-02-01T00:00:00+00:00"}]  # fmt: skip
    first = issue_proof(
        build_proof(req, SUBJECT, [crm_section()], pending=pending, kdf_cost=CHEAP),
        keys, ledger, tmp_path,
    )  # fmt: skip
    first_bytes = first.path.read_bytes()
    final_body = build_proof(req, SUBJECT, [crm_section()], supersedes=first.sha256, kdf_cost=CHEAP)
    final = issue_proof(final_body, keys, ledger, tmp_path)
    assert final.path == first.path and final.audit_seq > first.audit_seq
    assert json.loads(final.path.read_bytes())["proof"]["supersedes"] == first.sha256
    archived = tmp_path / f"{req.request_id}.{first.sha256[:16]}.proof.json"
    assert archived.read_bytes() == first_bytes
    for path in (archived, final.path):
        report = verify_proof(path, keys.public_key_pem(), ledger=ledger)
        assert report.ok and report.chain == "in-ledger", report.problems

    # One proof per request: a body that does not name the proof it replaces is not issued.
    stray = build_proof(req, SUBJECT, [crm_section()], supersedes="ab" * 32, kdf_cost=CHEAP)
    with pytest.raises(ValueError, match="which is not the proof recorded"):
        issue_proof(stray, keys, ledger, tmp_path)
    again = build_proof(req, SUBJECT, [crm_section()], kdf_cost=CHEAP)
    assert issue_proof(again, keys, ledger, tmp_path) == final  # the recorded one, unchanged
    assert verify_proof(final.path, keys.public_key_pem(), ledger=ledger).ok
