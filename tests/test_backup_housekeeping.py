"""Backup store housekeeping (expiry, crashes, keys) and tombstones: backend-independent."""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from connectors.identities import parse_identity
from dsr.erasure.restore import (
    BackupError,
    BackupNotFound,
    BackupStore,
    RestoreRefused,
    Tombstones,
    restore,
)
from dsr.keys import KeyRing
from tests.backup_env import MARIA, NORTHWIND, T0, Crm, eraser_factory, rows, seeded_crm


@pytest.fixture
def crm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Crm]:
    yield from seeded_crm(request, tmp_path, "sqlite")


# -- the store ---------------------------------------------------------------------------------


def test_expiry_keeps_young_backups_and_the_only_backup_of_a_region(
    crm: Crm, store: BackupStore
) -> None:
    old = store.snapshot("us", crm.url, crm.datamap, now=T0)
    newer = store.snapshot("us", crm.url, crm.datamap, now=T0 + timedelta(days=1))
    lone = store.snapshot("eu", crm.url, crm.datamap, now=T0)
    assert store.expired(T0 + timedelta(days=29, hours=23)) == []
    assert store.expired(T0 + timedelta(days=30)) == [old]
    assert store.expired(T0 + timedelta(days=31)) == [old]
    # The newest of a region is never expired, however old: restores need something to restore.
    assert store.expired(T0 + timedelta(days=400)) == [old]
    assert store.expired(T0 + timedelta(days=8), retention_days=7) == [old]
    assert {r.backup_id for r in store.list()} == {old.backup_id, newer.backup_id, lone.backup_id}
    assert store.list("eu") == [lone]

    store.delete(old.backup_id)
    for path in (old.archive, old.index, old.metadata_path):
        assert not path.exists()
    with pytest.raises(BackupNotFound):
        store.get(old.backup_id)
    assert store.expired(T0 + timedelta(days=400)) == []
    for bad in ("../../etc/passwd", "b-us-x", f"{old.backup_id}/../x"):
        with pytest.raises(BackupNotFound):
            store.get(bad)


def test_a_crashed_snapshot_leaves_no_listed_backup(
    crm: Crm, store: BackupStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_: Any) -> None:
        raise OSError("no space left")

    monkeypatch.setattr("connectors.backups.store.write_index", fail)
    with pytest.raises(OSError, match="no space"):
        store.snapshot("us", crm.url, crm.datamap)
    assert store.list() == [] and [p.name for p in (store.root / "us").iterdir()] == []
    # A process killed outright leaves .partial files: the expiry job sweeps old ones.
    stale, fresh = store.root / "us" / "b-x.dump.partial", store.root / "us" / "b-y.dump.partial"
    stale.write_bytes(b"plain copy")
    fresh.write_bytes(b"being written")
    os.utime(stale, (0, 0))
    assert store.sweep_partials() == [stale] and fresh.exists()


def test_listing_while_an_expiry_deletes_backups_skips_the_vanished_ones(
    crm: Crm, store: BackupStore
) -> None:
    # `dsr backup --list`, an access request or a second expiry can read the store while an
    # expiry in another process deletes from it; a backup gone mid-listing is simply not listed.
    first = store.snapshot("us", crm.url, crm.datamap, now=T0)
    data = json.loads(first.metadata_path.read_text("utf-8"))
    ids = [f"b-us-20261124T221500Z-{n:06x}" for n in range(1, 401)]
    for backup_id in ids:
        (store.root / "us" / f"{backup_id}.json").write_text(
            json.dumps({**data, "backup_id": backup_id}), "utf-8"
        )
    deleter = threading.Thread(
        target=lambda: [(store.root / "us" / f"{i}.json").unlink() for i in ids]
    )
    deleter.start()
    seen = []
    while deleter.is_alive():
        seen.append(len(store.list("us")))
    deleter.join()
    assert seen and all(1 <= n <= len(ids) + 1 for n in seen)
    assert store.list("us") == [first]
    with pytest.raises(BackupNotFound, match="not in the store"):
        store.get(ids[0])


def test_another_hash_key_is_refused_rather_than_matching_nobody(
    crm: Crm, store: BackupStore, tmp_path: Path, keys: KeyRing
) -> None:
    record = store.snapshot("us", crm.url, crm.datamap)
    rotated = KeyRing(tmp_path / "rotated-keys")
    stones = Tombstones(f"sqlite:///{tmp_path / 'other.sqlite'}", rotated)
    stones.record("r1", MARIA, "user_account", None, datetime.now(UTC))
    target = tmp_path / "restored"
    with pytest.raises(RestoreRefused, match="another hash key"):
        restore(store, record.backup_id, str(target), crm.datamap, stones, eraser_factory(keys))
    stones.close()
    assert not target.exists()
    with pytest.raises(BackupError, match="another hash key"):
        BackupStore(store.root, rotated).holding(MARIA)


def test_the_sqlite_archive_is_a_consistent_self_contained_copy(
    crm: Crm, store: BackupStore, tmp_path: Path
) -> None:
    record = store.snapshot("us", crm.url, crm.datamap)
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(gzip.decompress(record.archive.read_bytes()))
    engine = create_engine(f"sqlite:///{copy}", poolclass=NullPool)
    try:
        assert rows(engine, crm.datamap) == rows(crm.engine, crm.datamap)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
    finally:
        engine.dispose()


# -- tombstones ----------------------------------------------------------------------------------


def test_a_tombstone_keeps_keyed_hashes_only(tmp_path: Path, keys: KeyRing) -> None:
    ledger = tmp_path / "ledger.sqlite"
    stones = Tombstones(f"sqlite:///{ledger}", keys)
    ids = {*MARIA, parse_identity("phone", "+14155550142"), parse_identity("name", "Maria Jensen")}
    first = stones.record("r1", ids, "client_data", NORTHWIND, T0)
    assert first.hashes == {keys.keyed_hash(i.kind, i.value) for i in ids}
    stones.record("r2", MARIA, "user_account", None, T0 + timedelta(days=2))
    # A re-run of r1 widens it and keeps the later time.
    extra = parse_identity("email", "m.j@example.org")
    again = stones.record("r1", {extra}, "client_data", NORTHWIND, T0 + timedelta(days=1))
    assert again.erased_at == T0 + timedelta(days=1) and len(again.hashes) == 4
    assert [t.request_id for t in stones.since(T0)] == ["r1", "r2"]
    assert [t.request_id for t in stones.since(T0 + timedelta(days=1, seconds=1))] == ["r2"]
    assert stones.get("r1") == again
    stones.close()
    data = ledger.read_bytes().lower()
    for needle in (b"maria", b"jensen", b"example.org", b"4155550142"):
        assert needle not in data
    stones = Tombstones(f"sqlite:///{ledger}", keys)
    assert stones.purge_before(T0 + timedelta(days=2)) == 1
    assert [t.request_id for t in stones.since(T0)] == ["r2"]
    # A request still waiting for its final certificate keeps its tombstone, however old.
    assert stones.purge_before(T0 + timedelta(days=3), keep={"r2"}) == 0
    assert stones.get("r2") is not None
    with pytest.raises(ValueError, match="time zone"):
        stones.record("r3", MARIA, "user_account", None, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="client id"):
        stones.record("r3", MARIA, "client_data", None, T0)
    stones.close()
