"""The deletion-proof tests' shared set-up: the subject, a ledger, a CRM section and a proof
body for a registered erasure; the ``ledger`` and ``issued`` fixtures (registered in
``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Identity
from dsr.keys import KeyRing
from dsr.ledger import Ledger, RequestType, Scope
from dsr.proof import ProofRequest, SystemSection, build_proof, issue_proof

CHEAP = 2**4  # scrypt cost for tests; the default cost is exercised once (test_proof_issue.py)
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


def sqlite_ledger(tmp_path: Path, keys: KeyRing) -> Iterator[Ledger]:
    """A fresh ledger in ``tmp_path / "ledger.sqlite"``, closed after the test."""
    led = _ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", keys)
    yield led
    led.close()


@pytest.fixture
def ledger(tmp_path: Path, keys: KeyRing) -> Iterator[Ledger]:
    yield from sqlite_ledger(tmp_path, keys)


@pytest.fixture
def issued(ledger: Ledger, keys: KeyRing, tmp_path: Path) -> Path:
    """The path of a proof issued for ``body_for(ledger)``."""
    return issue_proof(body_for(ledger), keys, ledger, tmp_path / "proofs").path


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
