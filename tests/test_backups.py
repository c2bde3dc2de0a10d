"""Backups on SQLite and PostgreSQL: the identity index, restore-then-re-erase, refusals."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from connectors.backups.pg import user_tables
from connectors.identities import parse_identity
from dsr.democrm.planted import DEMO_EMAIL, expected_rows
from dsr.erasure.restore import (
    BackupCorrupt,
    BackupStore,
    RestoreFailed,
    RestoreRefused,
    Tombstones,
    restore,
)
from dsr.keys import KeyRing
from tests.backup_env import MARIA, NORTHWIND, Crm, erase_live, eraser_factory, plain_needles, rows

# -- the index -----------------------------------------------------------------------------------


def test_the_index_says_which_backups_hold_a_person_and_holds_no_plain_identity(
    crm: Crm, store: BackupStore
) -> None:
    record = store.snapshot("us", crm.url, crm.datamap)
    assert record.backup_id.startswith("b-us-") and record.backend == crm.backend
    assert record.expires_at - record.created_at == timedelta(days=30)
    assert record.archive.name.endswith(".sqlite.gz" if crm.backend == "sqlite" else ".dump")
    assert store.holding(MARIA) == [record]
    assert store.holding({parse_identity("phone", "(415) 555-0142")}) == [record]
    assert store.holding({parse_identity("email", "nobody@example.org")}) == []
    assert store.holding(set()) == []
    with crm.engine.connect() as conn:
        contacts = conn.execute(text("SELECT count(*) FROM contacts")).scalar_one()
    assert record.tables["contacts"] == contacts and record.index_entries > contacts
    meta = json.loads(record.metadata_path.read_text())
    assert meta["sha256"] == record.sha256 and meta["region"] == "us"
    for path in (record.metadata_path, record.index):
        data = path.read_bytes().lower()
        for needle in plain_needles():
            assert needle not in data, (path.name, needle)
    assert store.get(record.backup_id) == record and store.list() == [record]
    store.verify(record)


# -- restore -------------------------------------------------------------------------------------


def test_a_restored_backup_taken_before_an_erasure_no_longer_holds_the_person(
    crm: Crm, store: BackupStore, stones: Tombstones, keys: KeyRing, tmp_path: Path
) -> None:
    before = store.snapshot("us", crm.url, crm.datamap)
    erase_live(crm, keys, stones)
    after = store.snapshot("us", crm.url, crm.datamap)
    # The proof's question: only the backup from before the erasure still holds her address.
    assert store.holding(MARIA) == [before]
    live = rows(crm.engine, crm.datamap)

    target = crm.fresh_target(tmp_path)
    report = restore(store, before.backup_id, target, crm.datamap, stones, eraser_factory(keys))
    assert report.usable and report.verification_ok and report.error == ""
    assert report.tombstones_considered == 2 and report.tombstones_reapplied == 2
    assert report.rows_changed > 0
    assert report.reapplied[0].recovered["email"] >= 1

    engine = crm.restored_engine(target)
    try:
        # Restored + re-erased is exactly the live database after the erasure: Maria's rows gone
        # or emptied as the data map says, Tom's and everyone else's untouched.
        assert rows(engine, crm.datamap) == live
        restored = crm.connector(engine)
        for scope, client in (("user_account", None), ("client_data", NORTHWIND)):
            found = restored.find({"m": MARIA}, scope=scope, client_id=client)["m"]
            kept = {r.ref.table for r in found.rows}
            assert kept <= {"invoices", "payment_methods"} and found.mentions == [], scope
        tom = restored.find(
            {"t": {parse_identity("email", "tom.becker@example.net")}}, scope="client_data"
        )["t"]
        toms = {(t, str(pk)) for t, pks in expected_rows("us")["tom"].items() for pk in pks}
        assert toms <= {(r.ref.table, r.ref.pk) for r in tom.rows}
        if crm.backend == "postgresql":
            with engine.connect() as conn:
                status = conn.execute(text("SELECT state FROM dsr_restore_status")).scalar_one()
            assert status == "usable"
    finally:
        engine.dispose()
    if crm.backend == "sqlite":
        assert DEMO_EMAIL.encode() not in (Path(target) / "us.sqlite").read_bytes().lower()
        assert sorted(p.name for p in Path(target).iterdir()) == ["us.sqlite"]
    # A backup taken after the erasure still has her kept, emptied rows (anonymised user row,
    # invoices): the re-application finds them by user id and changes nothing.
    again_target = crm.fresh_target(tmp_path / "2")
    again = restore(store, after.backup_id, again_target, crm.datamap, stones, eraser_factory(keys))
    assert again.usable and again.verification_ok and again.rows_changed == 0


def test_a_tampered_archive_is_refused_and_the_target_untouched(
    crm: Crm, store: BackupStore, stones: Tombstones, keys: KeyRing, tmp_path: Path
) -> None:
    record = store.snapshot("us", crm.url, crm.datamap)
    data = bytearray(record.archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    record.archive.write_bytes(bytes(data))
    target = crm.fresh_target(tmp_path)
    with pytest.raises(BackupCorrupt, match="sha256"):
        restore(store, record.backup_id, target, crm.datamap, stones, eraser_factory(keys))
    if crm.backend == "sqlite":
        assert not Path(target).exists()
    else:
        engine = create_engine(target, poolclass=NullPool)
        assert user_tables(engine) == []
        engine.dispose()


def test_a_failed_re_erasure_leaves_the_target_unusable(
    crm: Crm, store: BackupStore, stones: Tombstones, keys: KeyRing, tmp_path: Path
) -> None:
    record = store.snapshot("us", crm.url, crm.datamap)
    erase_live(crm, keys, stones)

    def boom(step: str, conn: Any) -> None:
        raise RuntimeError("disk full")

    target = crm.fresh_target(tmp_path)
    factory = eraser_factory(keys, step_hook=boom)
    with pytest.raises(RestoreFailed, match="made unusable") as caught:
        restore(store, record.backup_id, target, crm.datamap, stones, factory)
    assert not caught.value.report.usable
    assert DEMO_EMAIL not in str(caught.value) and "maria" not in str(caught.value).lower()
    if crm.backend == "sqlite":
        assert list(Path(target).iterdir()) == []
    else:
        engine = create_engine(target, poolclass=NullPool)
        assert user_tables(engine) == ["dsr_restore_status"]
        with engine.connect() as conn:
            state = conn.execute(text("SELECT state FROM dsr_restore_status")).scalar_one()
        engine.dispose()
        assert state == "unusable"


def test_a_restore_never_overwrites_a_database(
    crm: Crm, store: BackupStore, stones: Tombstones, keys: KeyRing, tmp_path: Path
) -> None:
    record = store.snapshot("us", crm.url, crm.datamap)
    if crm.backend == "sqlite":
        target = tmp_path / "occupied"
        target.mkdir()
        (target / "us.sqlite").write_bytes(b"precious")
        args = str(target)
    else:
        args = crm.url  # the live database itself
    with pytest.raises(RestoreRefused, match="never overwrites"):
        restore(store, record.backup_id, args, crm.datamap, stones, eraser_factory(keys))
    if crm.backend == "sqlite":
        assert (target / "us.sqlite").read_bytes() == b"precious"
