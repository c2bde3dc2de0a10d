"""Deletion proofs, what is signed: canonical bytes, and a body that holds the request and its
counts with no identity in clear (only salted hashes), refusing what is malformed or personal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsr.ledger import Ledger
from dsr.proof import FORMAT, NotCanonical, ProofRequest, build_proof, canonical_bytes
from dsr.proof.canonical import loads
from tests.proof_env import CHEAP, SECRETS, SUBJECT, body_for, crm_section, proof_request

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
