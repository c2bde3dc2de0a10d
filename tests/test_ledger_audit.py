"""The ledger's audit chain and what the ledger keeps on disk, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, delete, select, update
from sqlalchemy.exc import DBAPIError

from connectors.base import Identity
from dsr.keys import KeyRing
from dsr.ledger import ChainReport, Ledger, RequestType, Scope, State, UnknownRequest
from dsr.ledger.audit import check_no_personal_data, entry_hash
from dsr.ledger.schema import audit_log, metadata, request_identities

SUBJECT = [Identity("email", "Maria.Jensen@Example.org"), Identity("phone", "+14155550142")]
SECRETS = (b"maria.jensen", b"Maria.Jensen", b"example.org", b"4155550142")


@pytest.fixture
def ledger(db_url: str, keys: KeyRing) -> Iterator[Ledger]:
    led = Ledger(db_url, keys)
    led.create_schema()
    yield led
    led.close()


def register(ledger: Ledger) -> str:
    return ledger.register(
        type=RequestType.ERASURE, scope=Scope.USER_ACCOUNT, identities=SUBJECT
    ).request_id


def drop_guards(conn: Connection) -> None:
    """What someone with owner rights on the database can always do."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
    else:
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_update_delete ON audit_log")


def test_database_refuses_update_delete_truncate(ledger: Ledger, db_url: str) -> None:
    rid = register(ledger)
    ledger.audit(rid, "found", {"rows": 3})
    engine = create_engine(db_url)
    attempts = [
        update(audit_log).where(audit_log.c.seq == 2).values(details='{"rows":0}'),
        delete(audit_log).where(audit_log.c.seq == 2),
    ]
    for statement in attempts:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE audit_log")
    engine.dispose()
    assert ledger.verify_chain() == ChainReport(ok=True, entries=2)


@pytest.mark.parametrize("attack", ["edit", "edit_and_rehash", "delete_middle", "delete_last"])
def test_tampering_breaks_the_chain(ledger: Ledger, db_url: str, attack: str) -> None:
    rid = register(ledger)
    ledger.claim(rid)
    ledger.audit(rid, "found", {"rows": 3, "region": "eu"})
    ledger.transition(rid, State.FULFILLED, result={"rows": 3})
    assert ledger.verify_chain() == ChainReport(ok=True, entries=4)
    engine = create_engine(db_url)
    # A plain UPDATE is refused while the guards stand; an owner can drop them, though.
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(details="{}"))
    with engine.begin() as conn:
        drop_guards(conn)
        row = conn.execute(select(audit_log).where(audit_log.c.seq == 3)).one()
        if attack.startswith("edit"):
            forged = {"rows": 0, "region": "eu"}
            values: dict[str, object] = {"details": '{"region":"eu","rows":0}'}
            if attack == "edit_and_rehash":
                values["entry_hash"] = entry_hash(
                    seq=3,
                    request_id=rid,
                    at=row.at,
                    event=row.event,
                    details=forged,
                    prev_hash=row.prev_hash,
                )
            conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(**values))
        else:
            conn.execute(
                delete(audit_log).where(audit_log.c.seq == (3 if "middle" in attack else 4))
            )
    engine.dispose()
    report = ledger.verify_chain()
    expected = {
        "edit": (3, "altered"),
        "edit_and_rehash": (4, "does not link"),
        "delete_middle": (4, "missing"),
        "delete_last": (4, "removed from the end"),
    }[attack]
    assert (report.ok, report.first_bad_seq) == (False, expected[0])
    assert expected[1] in (report.problem or "")


def test_editing_the_sqlite_file_directly_is_detected(tmp_path: Path, keys: KeyRing) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = Ledger(url, keys)
    ledger.create_schema()
    ledger.claim(register(ledger))
    ledger.close()  # last connection out checkpoints the WAL into the main file
    path = tmp_path / "ledger.sqlite"
    data = path.read_bytes()
    assert data.count(b'{"from":"received"}') == 1
    path.write_bytes(data.replace(b'{"from":"received"}', b'{"from":"refused!"}'))
    ledger = Ledger(url, keys)
    report = ledger.verify_chain()
    ledger.close()
    assert (report.ok, report.first_bad_seq) == (False, 2)


def _all_text(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        text = " ".join(str(list(conn.execute(select(t)))) for t in metadata.sorted_tables)
    engine.dispose()
    return text


def test_no_identity_in_clear_anywhere(ledger: Ledger, db_url: str, tmp_path: Path) -> None:
    rid = register(ledger)
    ledger.mark_identity_verified(rid, by="support:jdoe")
    ledger.extend(rid, months=1, reason="complex", notified_via="SUP-7")
    ledger.claim(rid)
    ledger.transition(rid, State.FAILED, reason="EU shard rejected maria.jensen@example.org")
    assert "<redacted>" in (ledger.get(rid).failure_reason or "")
    text = _all_text(db_url).encode()
    assert not [s for s in SECRETS if s in text]
    if db_url.startswith("sqlite"):
        files = [p for p in tmp_path.iterdir() if p.name.startswith("db.sqlite")]
        assert any(p.name.endswith("-wal") for p in files)  # still open: the WAL counts too
        raw = b"".join(p.read_bytes() for p in files)
        assert not [s for s in SECRETS if s in raw]


def test_forgotten_ciphertext_leaves_the_sqlite_files(tmp_path: Path, keys: KeyRing) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", keys)
    ledger.create_schema()
    rid = register(ledger)
    ledger.transition(rid, State.REFUSED, reason="withdrawn")
    engine = create_engine(f"sqlite:///{tmp_path / 'l.sqlite'}")
    with engine.connect() as conn:
        token = conn.execute(select(request_identities.c.token)).scalar_one()
    engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("l.sqlite*"))
    assert bytes(token)[:40] in raw
    ledger.forget_identities(rid)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("l.sqlite*"))
    assert bytes(token)[:40] not in raw
    ledger.close()


def test_audit_refuses_personal_data(ledger: Ledger, keys: KeyRing) -> None:
    rid = register(ledger)
    for bad in [
        {"note": "maria.jensen@example.org"},
        {"by_email": {"maria@example.org": 3}},
        {"nested": {"list": ["fine", "call +44 20 7946 0958 please"]}},
        {"phone": "(415) 555-0142"},
        {"digits": "4155550142"},
    ]:
        with pytest.raises(ValueError, match="personal data") as exc:
            ledger.audit(rid, "found", bad)
        assert "maria" not in str(exc.value) and "555" not in str(exc.value)
    with pytest.raises(ValueError, match="event"):
        ledger.audit(rid, "Found Rows!", {})
    with pytest.raises(UnknownRequest):
        ledger.audit("r-20260101-00000000", "found", {})
    assert len(ledger.audit_entries()) == 1
    fine = {
        "request": rid,
        "other": "r-20261124-12345678",
        "subject_hash": keys.keyed_hash("email", "maria.jensen@example.org"),
        "at": "2026-11-24T10:00:00.123456+00:00",
        "when": "2026-11-24 10:00",
        "rows": 123456789,
        "version": "1.13.28",
        "bundle": f"exports/eu/{rid}/bundle.zip",
        "handle": "@support",
        # Named identifiers may be long digit runs (demo tenant ids are 10 digits), not e-mails.
        "client_id": "2000000017",
        "row_ids": ["2000000017", "2000000018"],
        "ticket_ref": "INC 2026 1124 0001",
    }
    with pytest.raises(ValueError, match="e-mail"):
        ledger.audit(rid, "found", {"client_id": "maria@example.org"})
    assert ledger.audit(rid, "found", fine).details == fine
    assert ledger.verify_chain().ok


def test_keyed_hashes_and_request_ids_always_pass() -> None:
    for _ in range(3000):
        check_no_personal_data(
            {"h": secrets.token_hex(32), "id": f"r-20261124-{secrets.token_hex(4)}"}
        )


def _worker(url: str, keys_dir: str, rid: str, worker: int, n: int) -> str:
    ledger = Ledger(url, KeyRing(Path(keys_dir)))
    try:
        own = ledger.register(
            type=RequestType.ACCESS, scope=Scope.USER_ACCOUNT, identities=SUBJECT
        ).request_id
        for i in range(n):
            ledger.audit(rid, "step", {"worker": worker, "i": i})
        return own
    finally:
        ledger.close()


def test_concurrent_appends_keep_one_chain(ledger: Ledger, db_url: str, keys: KeyRing) -> None:
    rid = register(ledger)
    procs, per_proc, threads, per_thread = 4, 25, 6, 10

    def thread_work(t: int) -> None:
        for i in range(per_thread):
            ledger.audit(rid, "thread_step", {"thread": t, "i": i})

    # A verifier running alongside must never mistake an append in flight for tampering.
    stop = threading.Event()
    reports: list[ChainReport] = []

    def verify_loop() -> None:
        while not stop.is_set():
            reports.append(ledger.verify_chain())

    verifier = threading.Thread(target=verify_loop)
    verifier.start()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(procs, mp_context=ctx) as pool:
        futures = [
            pool.submit(_worker, db_url, str(keys.keys_dir), rid, w, per_proc) for w in range(procs)
        ]
        workers = [threading.Thread(target=thread_work, args=(t,)) for t in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        own_ids = [f.result() for f in futures]
    stop.set()
    verifier.join()
    assert reports and all(r.ok for r in reports), [r for r in reports if not r.ok][:1]
    assert len(set(own_ids)) == procs
    total = 1 + procs * (1 + per_proc) + threads * per_thread
    assert ledger.verify_chain() == ChainReport(ok=True, entries=total)
    entries = ledger.audit_entries()
    assert [e.seq for e in entries] == list(range(1, total + 1))
    assert len({e.prev_hash for e in entries}) == total  # no two entries share a parent
