"""Restores re-apply opt-outs and restrictions (Art. 21(3), Art. 18), not only erasures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from connectors.backups.pg import user_tables
from connectors.crm.datamap import load_datamap
from connectors.crm.flags import CrmFlagger, is_flagged
from connectors.crm.sql import CrmSqlConnector
from dsr.cli.main import app
from dsr.democrm.planted import DEMO_EMAIL, plant
from dsr.democrm.seed import seed
from dsr.erasure.restore import BackupStore, RestoreFailed, RestoreRefused, Tombstones, restore
from dsr.erasure.tombstones import suppressions_table
from dsr.keys import KeyRing
from dsr.ledger import Ledger, RequestType
from dsr.retention.backup_expiry import expire_backups
from dsr.settings import DEMO_DATAMAP
from pipelines.launch import run_fulfilment
from tests.backup_env import MARIA, T0, Crm, erase_live, eraser_factory, plain_needles, rows
from tests.dsr_env import DsrEnv, demo_environment

ACTION = {"opt_out": "suppression", "restriction": "restriction"}
runner = CliRunner()


def flag_live(crm: Crm, stones: Tombstones, request_type: str, at: datetime) -> int:
    """Opt Maria out (or restrict her) as the pipeline's region asset does, suppression included."""
    connector = crm.connector()
    found = connector.find({"m": MARIA}, scope="user_account")["m"]
    flagger = CrmFlagger(connector)
    plan = flagger.plan(found, ACTION[request_type], at=at)  # type: ignore[arg-type]
    changed = flagger.apply(plan)
    stones.suppress(f"r-{request_type}", "us", request_type, found.identities | MARIA,
                    "user_account", None, at)  # fmt: skip
    return changed


def maria_flagged(crm: Crm, engine_url: str, action: str) -> int:
    engine = create_engine(engine_url, poolclass=NullPool)
    try:
        connector = crm.connector(engine)
        found = connector.find({"m": MARIA}, scope="user_account")["m"]
        tables = crm.datamap.tables
        return sum(
            1 for r in found.rows if is_flagged(getattr(tables[r.ref.table], action), r.data)
        )
    finally:
        engine.dispose()


def restored_url(crm: Crm, target: str) -> str:
    return f"sqlite:///{Path(target) / 'us.sqlite'}" if crm.server is None else target


@pytest.mark.parametrize("request_type", ["opt_out", "restriction"])
def test_a_backup_from_before_the_request_comes_back_flagged_exactly_as_live(
    crm: Crm,
    store: BackupStore,
    stones: Tombstones,
    keys: KeyRing,
    tmp_path: Path,
    request_type: str,
) -> None:
    before = store.snapshot("us", crm.url, crm.datamap, now=T0)
    untouched = rows(crm.engine, crm.datamap)
    changed = flag_live(crm, stones, request_type, T0 + timedelta(days=1))
    assert changed > 0
    live = rows(crm.engine, crm.datamap)

    target = crm.fresh_target(tmp_path)
    report = restore(store, before.backup_id, target, crm.datamap, stones, eraser_factory(keys))
    assert report.usable and report.verification_ok
    assert report.flags_considered == 1 and report.flags_reapplied(request_type) == 1
    other = "restriction" if request_type == "opt_out" else "opt_out"
    assert report.flags_reapplied(other) == 0 and report.tombstones_reapplied == 0
    assert report.rows_changed == changed
    assert report.reapplied_flags[0].recovered["email"] >= 1

    restored = crm.restored_rows(target)
    # Her rows carry the very flags (and unsubscribe time) the live database has; every other
    # row is the snapshot's, unchanged.
    assert restored == live
    flagged = {k for k in live if live[k] != untouched[k]}
    assert flagged and all(restored[k] == untouched[k] for k in untouched if k not in flagged)
    assert maria_flagged(crm, restored_url(crm, target), ACTION[request_type]) == changed


def test_a_backup_taken_after_the_opt_out_restores_unchanged(
    crm: Crm, store: BackupStore, stones: Tombstones, keys: KeyRing, tmp_path: Path
) -> None:
    flag_live(crm, stones, "opt_out", T0)
    after = store.snapshot("us", crm.url, crm.datamap, now=T0 + timedelta(days=1))
    live = rows(crm.engine, crm.datamap)
    target = crm.fresh_target(tmp_path)
    report = restore(store, after.backup_id, target, crm.datamap, stones, eraser_factory(keys))
    assert report.usable and report.flags_considered == 0
    assert report.flags_reapplied("opt_out") == 0 and report.rows_changed == 0
    assert crm.restored_rows(target) == live


def test_an_erasure_after_an_opt_out_wins_in_the_restored_copy(
    crm: Crm, store: BackupStore, stones: Tombstones, keys: KeyRing, tmp_path: Path
) -> None:
    before = store.snapshot("us", crm.url, crm.datamap, now=T0)
    flag_live(crm, stones, "opt_out", T0 + timedelta(hours=2))
    erase_live(crm, keys, stones)  # stamped now, a day after the opt-out
    live = rows(crm.engine, crm.datamap)
    target = crm.fresh_target(tmp_path)
    report = restore(store, before.backup_id, target, crm.datamap, stones, eraser_factory(keys))
    assert report.usable and report.tombstones_reapplied == 2
    assert report.flags_reapplied("opt_out") == 1
    assert crm.restored_rows(target) == live


def test_the_suppression_list_holds_no_plain_identity(
    crm: Crm, stones: Tombstones, tmp_path: Path
) -> None:
    flag_live(crm, stones, "opt_out", T0)
    flag_live(crm, stones, "restriction", T0 + timedelta(minutes=5))
    with stones.engine.connect() as conn:
        stored = [dict(r) for r in conn.execute(select(suppressions_table)).mappings()]
    assert {(r["request_type"], r["action"]) for r in stored} == {
        ("opt_out", "suppression"),
        ("restriction", "restriction"),
    }
    text = json.dumps(stored, default=str).lower()
    data = (tmp_path / "ledger.sqlite").read_bytes().lower()
    for needle in plain_needles():
        assert needle.decode() not in text and needle not in data, needle


def test_a_failed_re_application_leaves_the_target_unusable(
    crm: Crm, store: BackupStore, stones: Tombstones, keys: KeyRing, tmp_path: Path
) -> None:
    before = store.snapshot("us", crm.url, crm.datamap, now=T0)
    flag_live(crm, stones, "opt_out", T0 + timedelta(days=1))
    # A suppression list altered behind our back: an action the data map does not know.
    with stones.engine.begin() as conn:
        conn.execute(suppressions_table.update().values(action="unsubscribe_everyone"))
    target = crm.fresh_target(tmp_path)
    with pytest.raises(RestoreFailed, match="made unusable") as caught:
        restore(store, before.backup_id, target, crm.datamap, stones, eraser_factory(keys))
    assert "unknown flag action" in str(caught.value) and not caught.value.report.usable
    assert DEMO_EMAIL not in str(caught.value)
    if crm.backend == "sqlite":
        assert list(Path(target).iterdir()) == []
    else:
        engine = create_engine(target, poolclass=NullPool)
        assert user_tables(engine) == ["dsr_restore_status"]
        engine.dispose()


def test_a_suppression_under_another_hash_key_is_refused(
    crm: Crm, store: BackupStore, stones: Tombstones, keys: KeyRing, tmp_path: Path
) -> None:
    before = store.snapshot("us", crm.url, crm.datamap, now=T0)
    other = Tombstones(stones.engine, KeyRing(tmp_path / "other-keys"))
    flag_live(crm, other, "opt_out", T0 + timedelta(days=1))
    target = crm.fresh_target(tmp_path)
    with pytest.raises(RestoreRefused, match="another hash key"):
        restore(store, before.backup_id, target, crm.datamap, stones, eraser_factory(keys))


# -- bad input -----------------------------------------------------------------------------------


def test_a_suppression_needs_a_known_type_scope_and_identities(stones: Tombstones) -> None:
    for args, error in (
        (("opt_in", MARIA, "user_account", None), "unknown flag request"),
        (("opt_out", MARIA, "everything'; --", None), "unknown scope"),
        (("opt_out", MARIA, "client_data", None), "needs the client id"),
        (("opt_out", set(), "user_account", None), "at least one identity"),
    ):
        with pytest.raises(ValueError, match=error):
            stones.suppress("r-1", "us", *args, T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time zone"):
        stones.suppress(
            "r-1", "us", "opt_out", MARIA, "user_account", None, T0.replace(tzinfo=None)
        )
    assert stones.suppressions_since(T0 - timedelta(days=1), "us") == []


# -- through Dagster and the CLI -----------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def cli(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_the_pipeline_records_the_opt_out_and_a_restore_re_applies_it(
    env: DsrEnv, tmp_path: Path
) -> None:
    us_backup = next(b["backup_id"] for b in cli("backup")["backups"] if b["region"] == "us")
    record = env.register(DEMO_EMAIL, type=RequestType.OPT_OUT)
    result = run_fulfilment(
        env.defs, env.instance, record.request_id, job_name="opt_out_fulfilment"
    )
    assert result.success, env.ledger.get(record.request_id).failure_reason
    stones = env.resources["backups"].tombstones()
    try:
        recorded = {
            s.region: s for s in stones.suppressions_since(T0 - timedelta(days=1), "us")
        } | {s.region: s for s in stones.suppressions_since(T0 - timedelta(days=1), "eu")}
    finally:
        stones.close()
    assert sorted(recorded) == ["eu", "us"]
    assert all(s.request_id == record.request_id and s.action == "suppression" for s in
               recorded.values())  # fmt: skip

    # The snapshot was taken a moment before the opt-out, so within the clock margin: the
    # restore considers it and sets what the backup lacked.
    report = cli("restore-backup", us_backup, "--target", str(tmp_path / "restored"))
    assert report["ok"] and report["verified"] and report["opt_outs_reapplied"] == 1
    assert report["restrictions_reapplied"] == 0 and report["rows_changed"] == 2
    plain = runner.invoke(app, ["restore-backup", us_backup, "--target", str(tmp_path / "again")])
    # Rich wraps long lines wherever the target path ends.
    assert plain.exit_code == 0
    assert "1 opt-outs, 0 restrictions" in " ".join(plain.stdout.split())
    restored = create_engine(f"sqlite:///{tmp_path / 'restored' / 'us.sqlite'}")
    live = create_engine(env.settings.crm_urls["us"])
    try:
        datamap = env.crm.datamap()

        def maria(engine):  # type: ignore[no-untyped-def]
            found = CrmSqlConnector("us", engine, datamap).find({"m": MARIA}, scope="user_account")
            return sorted((r.ref.table, r.ref.pk, sorted(r.data.items())) for r in found["m"].rows)

        assert maria(restored) == maria(live)
    finally:
        restored.dispose()
        live.dispose()


def test_expiry_purges_suppressions_no_remaining_backup_needs(
    tmp_path: Path, keys: KeyRing
) -> None:
    crm_url = f"sqlite:///{tmp_path / 'us.sqlite'}"
    engine = create_engine(crm_url, poolclass=NullPool)
    seed(engine, region="us", contacts=30, seed=3)
    plant(engine, "us")
    engine.dispose()
    datamap = load_datamap(DEMO_DATAMAP)
    store = BackupStore(tmp_path / "backups", keys)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    stones = Tombstones(ledger_url, keys)
    ledger = Ledger(ledger_url, keys)
    ledger.create_schema()
    try:
        for day in (0, 10, 20):
            stones.suppress(f"r-{day}", "us", "opt_out", MARIA, "user_account", None,
                            T0 + timedelta(days=day, hours=1))  # fmt: skip
        for day in (5, 15):
            store.snapshot("us", crm_url, datamap, now=T0 + timedelta(days=day))
        # Day 36: the day-5 backup is past its 30 days and goes; the oldest left is from day 15,
        # which already carries the opt-outs of days 0 and 10, not the one of day 20.
        report = expire_backups(
            store, stones, ledger, keys, tmp_path / "proofs", T0 + timedelta(days=36)
        )
        assert sum(len(v) for v in report.removed.values()) == 1
        assert report.as_metadata()["suppressions_purged"] == 2
        left = stones.suppressions_since(T0 - timedelta(days=1), "us")
        assert [s.request_id for s in left] == ["r-20"]
    finally:
        stones.close()
        ledger.close()
