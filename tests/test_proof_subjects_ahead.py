"""A batch's proofs hash their subjects ahead, on a second thread: the same hashes, never another
person's."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import Identity
from dsr.proof.canonical import identity_hash, kdf_params
from dsr.proof.document import ProofRequest, SystemSection, build_proof
from dsr.proof.subjects_ahead import SubjectsAhead

CHEAP = 2**4  # scrypt cost for tests
MARIA = {Identity("email", "maria.jensen@example.org"), Identity("phone", "+4520123456")}
OLE = {Identity("email", "ole.hansen@example.org"), Identity("phone", "+4520654321")}


def names(section: dict, identities: set[Identity]) -> bool:
    """Whether ``section`` hashes exactly ``identities`` (what a verifier recomputes)."""
    salt = base64.b64decode(section["salt"])
    wanted = sorted(identity_hash(salt, i, kdf_params(CHEAP)) for i in identities)
    return sorted(h["hash"] for h in section["identities"]) == wanted


def test_a_subject_hashed_ahead_names_the_person() -> None:
    with SubjectsAhead(CHEAP) as ahead:
        ahead.hash_ahead("r-1", MARIA)
        ahead.hash_ahead("r-2", OLE)
        assert names(ahead.section("r-2", OLE), OLE)
        assert names(ahead.section("r-1", MARIA), MARIA)


def test_each_proof_has_its_own_salt() -> None:
    with SubjectsAhead(CHEAP) as ahead:
        ahead.hash_ahead("r-1", MARIA)
        ahead.hash_ahead("r-2", MARIA)
        assert ahead.section("r-1", MARIA)["salt"] != ahead.section("r-2", MARIA)["salt"]


def test_identities_other_than_those_hashed_ahead_are_hashed_again() -> None:
    with SubjectsAhead(CHEAP) as ahead:
        ahead.hash_ahead("r-1", OLE)
        section = ahead.section("r-1", MARIA)
    assert names(section, MARIA) and not names(section, OLE)


def test_a_request_not_hashed_ahead_is_hashed_when_asked() -> None:
    with SubjectsAhead(CHEAP) as ahead:
        assert names(ahead.section("r-9", MARIA), MARIA)


def test_a_proof_refuses_a_subject_hashed_for_other_kinds_of_identity() -> None:
    with SubjectsAhead(CHEAP) as ahead:
        ahead.hash_ahead("r-1", {Identity("email", "ole.hansen@example.org")})
        only_email = ahead.section("r-1", {Identity("email", "ole.hansen@example.org")})
    with pytest.raises(ValueError, match="hashed ahead is not this proof's subject"):
        build_proof(_request(), MARIA, [], kdf_cost=CHEAP, hashed_subject=only_email)


def _request() -> ProofRequest:
    received = datetime(2026, 12, 1, 9, tzinfo=UTC)
    return ProofRequest(
        request_id="r-20261201-0a1b2c3d",
        request_type="erasure",
        scope="user_account",
        client_id=None,
        received_at=received,
        due_at=received + timedelta(days=30),
        completed_at=received + timedelta(days=2),
    )


def test_a_proof_takes_the_subject_hashed_ahead_for_it() -> None:
    with SubjectsAhead(CHEAP) as ahead:
        ahead.hash_ahead("r-1", MARIA)
        section = ahead.section("r-1", MARIA)
    crm = SystemSection(
        system="crm",
        region="eu",
        status="erased",
        counts={"contacts": {"deleted": 1}},
        kept=[],
        verification={"ok": True, "searched_identities": 2, "remaining": [], "unexpected": 0},
        pending=[],
    )
    body = build_proof(_request(), MARIA, [crm], kdf_cost=CHEAP, hashed_subject=section)
    assert body["subject"] == section and names(body["subject"], MARIA)
