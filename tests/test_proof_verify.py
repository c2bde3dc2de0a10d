"""Deletion proofs: canonical bytes, no identity in clear, signing into the audit chain, and a
verifier that catches every change to the file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from connectors.base import Identity
from dsr.keys import KeyRing
from dsr.ledger import Ledger, RequestType, Scope, UnknownRequest
from dsr.proof import (
    FORMAT,
    NotCanonical,
    ProofRequest,
    SystemSection,
    build_proof,
    canonical_bytes,
    issue_proof,
    verify_proof,
)
from dsr.proof.canonical import loads

CHEAP = 2**4  # scrypt cost for tests; the default cost is exercised once below
SUBJECT = [
    Identity("email", " Maria.Jensen@Example.org "),
    Identity("phone", "+1 (415) 555-0142"),
    Identity("name", "Maria Jensen"),
]
# Every spelling of the subject that must not appear in a proof file, compared lower-case.
SECRETS = ("maria.jensen", "example.org", "4155550142", "555-0142", "maria jensen", "jensen")


def _ledger(url: str, keys: KeyRing) -> Ledger:
    led = Ledger(url, keys)
    led.create_schema()
    return led


@pytest.fixture
def ledger(tmp_path: Path, keys: KeyRing) -> Iterator[Ledger]:
    led = _ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", keys)
    yield led
    led.close()


def crm_section(region: str = "eu", **changes: Any) -> SystemSection:
    section = SystemSection(
        system="crm",
        region=region,
        status="erased",
        counts={
            "contacts": {"deleted": 1},
            "notes": {"redacted": 3},
            "meeting_attendees": {"anonymised": 2},
            "invoices": {"kept": 4},
        },
        kept=[
            {
                "table": "invoices",
                "rows": 4,
                "legal_basis": "GDPR Art. 17(3)(b): legal obligation (bookkeeping law)",
                "until": date(2032, 3, 31),
            }
        ],
        verification={
            "ok": True,
            "searched_identities": 3,
            "remaining": [{"table": "invoices", "rows": 4, "reason": "kept: legal obligation"}],
            "unexpected": 0,
        },
        pending=[],
    )
    for key, value in changes.items():
        setattr(section, key, value)
    return section


def proof_request(ledger: Ledger) -> ProofRequest:
    record = ledger.register(type=RequestType.ERASURE, scope=Scope.USER_ACCOUNT, identities=SUBJECT)
    return ProofRequest(
        request_id=record.request_id,
        request_type=record.type,
        scope=record.scope,
        client_id=None,
        received_at=record.received_at,
        due_at=record.due_at,
        completed_at=record.received_at + timedelta(days=2),
    )


def body_for(ledger: Ledger, *sections: SystemSection, **options: Any) -> dict[str, Any]:
    options.setdefault("kdf_cost", CHEAP)
    options.setdefault(
        "pending",
        [{"system": "backups", "what": "nightly snapshots", "status": "expiring",
          "expires_at": datetime(2030, 2, 1, tzinfo=UTC)}],
    )  # fmt: skip
    systems = sections or (crm_section("eu"), crm_section("us", counts={}, kept=[],
                           status="nothing_found", verification={
                               "ok": True, "searched_identities": 3, "remaining": [],
                               "unexpected": 0}))  # fmt: skip
    return build_proof(proof_request(ledger), SUBJECT, systems, **options)


@pytest.fixture
def issued(ledger: Ledger, keys: KeyRing, tmp_path: Path) -> Path:
    return issue_proof(body_for(ledger), keys, ledger, tmp_path / "proofs").path


# --- canonical JSON ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def reordered(value: Any, shuffle: Callable[[list], None]) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        shuffle(keys)
        return {k: reordered(value[k], shuffle) for k in keys}
    if isinstance(value, list):
        return [reordered(v, shuffle) for v in value]
    return value


@given(json_values, st.randoms(use_true_random=False))
def test_equal_content_gives_equal_bytes_whatever_the_insertion_order(value: Any, rnd) -> None:
    shuffled = reordered(value, rnd.shuffle)
    assert canonical_bytes(shuffled) == canonical_bytes(value)
    assert loads(canonical_bytes(value)) == value


def test_canonical_form_is_compact_sorted_utf8_and_refuses_floats() -> None:
    assert canonical_bytes({"b": [1, "é"], "a": None}) == '{"a":null,"b":[1,"é"]}'.encode()
    for bad in ({"rows": 1.0}, {"x": [{"y": float("nan")}]}, {1: "int key"}, {"s": {1, 2}}):
        with pytest.raises(NotCanonical):
            canonical_bytes(bad)
    for bad_text in (b'{"rows":1.0}', b'{"rows":1e3}', b'{"a":1,"a":2}', b'{"x":NaN}', b"\xff"):
        with pytest.raises(NotCanonical):
            loads(bad_text)


# --- the body ---------------------------------------------------------------------------------


def test_body_holds_the_request_counts_and_only_salted_hashes(ledger: Ledger) -> None:
    body = body_for(ledger, supersedes=None)
    assert body["format"] == FORMAT
    assert body["request"]["type"] == "erasure" and body["request"]["completed_on_time"] is True
    assert [(s["system"], s["region"]) for s in body["systems"]] == [("crm", "eu"), ("crm", "us")]
    assert body["systems"][0]["kept"][0]["until"] == "2032-03-31"
    assert body["pending"][0]["expires_at"] == "2030-02-01T00:00:00+00:00"
    assert body["totals"] == {
        "systems": 2, "deleted": 1, "anonymised": 2, "redacted": 3, "kept": 4,
        "remaining": 4, "unexpected": 0, "pending": 1,
    }  # fmt: skip
    subject = body["subject"]
    assert subject["kdf"] | {"input": None} == {
        "algorithm": "scrypt", "n": CHEAP, "r": 8, "p": 1, "length": 32, "input": None,
    }  # fmt: skip
    assert sorted(i["kind"] for i in subject["identities"]) == ["email", "name", "phone"]
    encoded = canonical_bytes(body).decode().lower()
    assert "@" not in encoded
    for secret in SECRETS:
        assert secret not in encoded


def test_each_proof_has_its_own_salt(ledger: Ledger) -> None:
    one, two = body_for(ledger), body_for(ledger)
    assert one["subject"]["salt"] != two["subject"]["salt"]
    assert one["subject"]["identities"] != two["subject"]["identities"]


@pytest.mark.parametrize(
    "bad",
    [
        {"counts": {"contacts": {"deleted": 1.0}}},
        {"counts": {"contacts": {"shredded": 1}}},
        {"counts": {"contacts": {"deleted": -1}}},
        {"kept": [{"table": "invoices", "rows": 1, "legal_basis": ""}]},
        {"status": "done"},
        {"verification": {"ok": True, "searched_identities": 1, "remaining": [], "unexpected": 2}},
        {"pending": [{"what": "ask maria.jensen@example.org to confirm"}]},
        {"kept": [{"table": "invoices", "rows": 1, "legal_basis": "call +1 415 555 0142"}]},
    ],
)
def test_malformed_or_personal_sections_are_refused(ledger: Ledger, bad: dict) -> None:
    with pytest.raises(ValueError) as err:
        body_for(ledger, crm_section(**bad))
    assert "maria" not in str(err.value).lower() and "555" not in str(err.value)


def test_naive_dates_and_no_identities_are_refused(ledger: Ledger) -> None:
    req = proof_request(ledger)
    naive = ProofRequest(**{**req.__dict__, "completed_at": datetime(2030, 1, 1)})
    with pytest.raises(ValueError, match="timezone-aware"):
        build_proof(naive, SUBJECT, [crm_section()], kdf_cost=CHEAP)
    with pytest.raises(ValueError, match="at least one identity"):
        build_proof(req, [], [crm_section()], kdf_cost=CHEAP)
    with pytest.raises(ValueError, match="kdf_cost"):
        build_proof(req, SUBJECT, [crm_section()], kdf_cost=1000)


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
