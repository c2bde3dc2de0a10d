"""An audit log that proves its own length: a shortened or re-chained log, or a state edited
behind the ledger's back, is found by `verify-ledger`, and no write is appended to it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, delete, select, update

from dsr.keys import KeyRing
from dsr.ledger import ChainBroken, Ledger, RequestType, Scope, State
from dsr.ledger.audit import entry_hash
from dsr.ledger.checkpoints import FILE_NAME, Checkpoints
from dsr.ledger.integrity import verify_ledger
from dsr.ledger.schema import audit_chain_head, audit_log, requests
from tests.test_ledger_audit import SUBJECT, drop_guards


@pytest.fixture
def proofs(tmp_path: Path) -> Path:
    return tmp_path / "proofs"


@pytest.fixture
def ledger(db_url: str, keys: KeyRing, proofs: Path) -> Iterator[Ledger]:
    led = Ledger(db_url, keys, checkpoints_dir=proofs)
    led.create_schema()
    yield led
    led.close()


def fulfilled(ledger: Ledger) -> str:
    rid = ledger.register(
        type=RequestType.ERASURE, scope=Scope.USER_ACCOUNT, identities=SUBJECT
    ).request_id
    ledger.claim(rid)
    ledger.audit(rid, "found", {"rows": 3})
    ledger.transition(rid, State.FULFILLED, result={"rows": 3})
    return rid


def rechain_from(conn: Connection, seq: int) -> None:
    """Recompute every hash from ``seq`` on and move the head: a chain that links again."""
    rows = conn.execute(select(audit_log).where(audit_log.c.seq >= seq).order_by("seq")).all()
    prev = conn.execute(select(audit_log.c.entry_hash).where(audit_log.c.seq == seq - 1)).scalar()
    for row in rows:
        digest = entry_hash(
            seq=row.seq,
            request_id=row.request_id,
            at=row.at,
            event=row.event,
            details=json.loads(row.details),
            prev_hash=prev,
        )
        conn.execute(
            update(audit_log)
            .where(audit_log.c.seq == row.seq)
            .values(prev_hash=prev, entry_hash=digest)
        )
        prev = digest
    last = conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq.desc())).scalar()
    conn.execute(update(audit_chain_head).values(last_seq=last, last_hash=prev))


def test_every_write_is_checkpointed_outside_the_database(
    ledger: Ledger, keys: KeyRing, proofs: Path
) -> None:
    fulfilled(ledger)
    point = Checkpoints(proofs, keys).latest()
    assert point is not None and point.seq == 4
    assert point.entry_hash == ledger.audit_entries()[-1].entry_hash
    # A forged line (not signed with our key) is never trusted.
    with (proofs / FILE_NAME).open("a") as fh:
        fh.write(json.dumps({"seq": 99, "entry_hash": "0" * 64, "at": "x", "signature": "AA=="}))
        fh.write("\n{torn")
    assert Checkpoints(proofs, keys).latest() == point


@pytest.mark.parametrize("attack", ["remove_tail", "rewrite_and_rechain"])
def test_a_shortened_or_rechained_log_is_found_and_never_appended_to(
    ledger: Ledger, db_url: str, keys: KeyRing, proofs: Path, attack: str
) -> None:
    rid = fulfilled(ledger)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        drop_guards(conn)
        if attack == "remove_tail":
            conn.execute(delete(audit_log).where(audit_log.c.seq >= 3))
            rechain_from(conn, 2)  # the head moved back to entry 2: the chain alone is fine
        else:
            conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(details='{"rows":0}'))
            rechain_from(conn, 3)
    engine.dispose()
    fresh = Ledger(db_url, keys, checkpoints_dir=proofs)  # another process, a clean start
    report = fresh.verify_chain()
    words = "removed from its end" if attack == "remove_tail" else "was rewritten"
    assert not report.ok and words in (report.problem or "")
    with pytest.raises(ChainBroken, match=words):
        fresh.audit(rid, "anything", {"rows": 1})
    full = verify_ledger(fresh, proofs)
    assert not full.ok and any(words in p for p in full.problems)
    fresh.close()


def test_a_state_edited_behind_the_ledger_is_found_and_refused(
    ledger: Ledger, db_url: str, proofs: Path
) -> None:
    rid = ledger.register(
        type=RequestType.ERASURE, scope=Scope.USER_ACCOUNT, identities=SUBJECT
    ).request_id
    ledger.claim(rid)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(requests).where(requests.c.request_id == rid).values(state="failed"))
    engine.dispose()
    report = verify_ledger(ledger, proofs)
    assert [p for p in report.problems if rid in p and "edited outside" in p]
    with pytest.raises(ChainBroken, match="edited outside the ledger"):
        ledger.claim(rid)
    assert ledger.get(rid).state == State.FAILED  # nothing was written over it


def test_a_sound_ledger_verifies(ledger: Ledger, proofs: Path) -> None:
    fulfilled(ledger)
    report = verify_ledger(ledger, proofs)
    assert report.ok, report.problems
    assert (report.entries, report.requests) == (4, 1)
