"""Deletion proofs, verifying: any change to the file, a forgery, a wrong key or a tampered ledger
fails with a clear problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from dsr.keys import KeyRing
from dsr.ledger import Ledger
from dsr.proof import canonical_bytes, issue_proof, verify_proof
from tests.proof_env import _ledger, body_for

# --- verification catches every change --------------------------------------------------------


def rewrite(path: Path, change: Callable[[dict], None]) -> bytes:
    """The proof with ``change`` applied, re-encoded canonically: only the content differs."""
    doc = json.loads(path.read_bytes())
    change(doc)
    return canonical_bytes(doc)


def _set(*where: Any, value: Any = None, fn: Callable[[Any], Any] | None = None):
    def change(doc: dict) -> None:
        target = doc
        for key in where[:-1]:
            target = target[key]
        target[where[-1]] = fn(target[where[-1]]) if fn else value

    return change


def _flip_hex(h: str) -> str:
    return ("1" if h[0] == "0" else "0") + h[1:]


TAMPERING = {
    "a count": (_set("proof", "systems", 0, "counts", "contacts", "deleted", fn=lambda n: n + 1),
                "signature does not match"),
    "a count and its total": (
        lambda d: (_set("proof", "systems", 0, "counts", "contacts", "deleted", value=0)(d),
                   _set("proof", "totals", "deleted", value=0)(d)),
        "proof_sha256 is not the SHA-256"),
    "a date": (_set("proof", "request", "completed_at", value="2020-01-01T00:00:00+00:00"),
               "signature does not match"),
    "a subject hash": (_set("proof", "subject", "identities", 0, "hash", fn=_flip_hex),
                       "signature does not match"),
    "the salt": (_set("proof", "subject", "salt", value="AAAAAAAAAAAAAAAAAAAAAA=="),
                 "signature does not match"),
    "supersedes": (_set("proof", "supersedes", value="0" * 64), "signature does not match"),
    "the entry time": (_set("audit_entry", "at", value="2030-01-01T00:00:00.000000+00:00"),
                       "entry_hash does not match"),
    "the entry seq": (_set("audit_entry", "seq", fn=lambda n: n + 1), "entry_hash does not match"),
    "the entry hash": (_set("audit_entry", "entry_hash", fn=_flip_hex),
                       "entry_hash does not match"),
    "the recorded proof hash": (_set("audit_entry", "details", "proof_sha256", fn=_flip_hex),
                                "records another proof"),
    "the event": (_set("audit_entry", "event", value="registered"), "not 'deletion_proof'"),
    "the signature": (_set("signature", "value", fn=lambda v: ("BA"[v[0] == "B"]) + v[1:]),
                      "signature does not match"),
    "the algorithm": (_set("signature", "algorithm", value="RSA"), "not an Ed25519 signature"),
    "an extra field": (_set("proof", "note", value="hello"), "signature does not match"),
}  # fmt: skip


@pytest.mark.parametrize("what", list(TAMPERING))
def test_any_change_fails_with_a_clear_problem(issued: Path, keys: KeyRing, what: str) -> None:
    change, expected = TAMPERING[what]
    data = rewrite(issued, change)
    for key in (keys.public_key_pem(), None):
        report = verify_proof(data, key)
        assert not report.ok
        assert expected in " ".join(report.problems), report.problems


def test_reformatting_the_file_is_a_change(issued: Path, keys: KeyRing) -> None:
    pretty = json.dumps(json.loads(issued.read_bytes()), indent=2, ensure_ascii=False).encode()
    report = verify_proof(pretty, keys.public_key_pem())
    assert not report.ok and "not in canonical form" in report.problems[0]


def test_wrong_public_key_fails(issued: Path, tmp_path: Path) -> None:
    other = KeyRing(tmp_path / "other-keys").public_key_pem()
    report = verify_proof(issued, other)
    assert not report.ok and report.signature == "invalid"
    assert "not the trusted public key" in " ".join(report.problems)
    with pytest.raises(ValueError):
        verify_proof(issued, "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


def test_a_consistent_forgery_needs_our_key_or_our_ledger(
    issued: Path, keys: KeyRing, ledger: Ledger, tmp_path: Path
) -> None:
    """Someone may rebuild every hash and sign with their own key: only the key or ledger tells."""
    from dsr.ledger.audit import entry_hash
    from dsr.proof.canonical import digest
    from dsr.proof.envelope import signed_payload

    forger = KeyRing(tmp_path / "forger")
    doc = json.loads(issued.read_bytes())
    doc["proof"]["systems"][0]["counts"]["contacts"]["deleted"] = 0
    doc["proof"]["totals"]["deleted"] = 0
    entry = doc["audit_entry"]
    entry["details"]["proof_sha256"] = digest(doc["proof"])
    entry["entry_hash"] = entry_hash(**{k: v for k, v in entry.items() if k != "entry_hash"})
    doc["signature"]["public_key"] = forger.public_key_pem()
    doc["signature"]["value"] = forger.sign(signed_payload("proof", doc["proof"], entry))
    data = canonical_bytes(doc)

    assert verify_proof(data).signature == "untrusted-key"
    assert not verify_proof(data, keys.public_key_pem()).ok
    report = verify_proof(data, ledger=ledger)
    assert not report.ok and report.chain == "not-in-ledger"


def test_a_tampered_ledger_is_reported(
    issued: Path, keys: KeyRing, ledger: Ledger, tmp_path: Path
) -> None:
    # What someone with write access to the ledger file can always do.
    with create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}").begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET details = '{}' WHERE seq = 1"))
    report = verify_proof(issued, keys.public_key_pem(), ledger=ledger)
    assert not report.ok and report.chain == "broken"
    assert "audit chain does not verify" in " ".join(report.problems)


def test_entry_round_trips_on_either_backend(db_url: str, keys: KeyRing, tmp_path: Path) -> None:
    led = _ledger(db_url, keys)
    try:
        path = issue_proof(body_for(led), keys, led, tmp_path).path
        report = verify_proof(path, keys.public_key_pem(), ledger=led)
        assert report.ok and report.chain == "in-ledger", report.problems
    finally:
        led.close()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    root = tmp_path_factory.mktemp("flip")
    ring = KeyRing(root / "keys")
    led = _ledger(f"sqlite:///{root / 'ledger.sqlite'}", ring)
    try:
        path = issue_proof(body_for(led), ring, led, root / "proofs").path
    finally:
        led.close()
    return path.read_bytes(), ring.public_key_pem()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_flipping_any_character_fails(sample: tuple[bytes, str], data: st.DataObject) -> None:
    raw, pem = sample
    chars = raw.decode()
    i = data.draw(st.integers(0, len(chars) - 1), label="position")
    new = data.draw(st.characters(codec="utf-8").filter(lambda c: c != chars[i]), label="char")
    flipped = (chars[:i] + new + chars[i + 1 :]).encode()
    for key in (pem, None):
        report = verify_proof(flipped, key)
        assert not report.ok and report.problems
