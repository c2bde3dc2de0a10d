"""A restored backup re-applies closed-account (tenant) purges, not only people's erasures."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from connectors.backups.pg import user_tables
from connectors.base import Identity
from dsr.cli.main import app
from dsr.democrm.planted import planted_id
from dsr.democrm.schema import clients, contacts, invoices, users
from dsr.erasure.restore import BackupStore, RestoreFailed, restore
from dsr.erasure.tenant_tombstones import TenantTombstones, tenant_tombstones_table
from dsr.retention.backup_expiry import expire_backups
from dsr.retention.run import run_purges
from resources.engines import engine_for
from tests.backup_env import eraser_factory, rows
from tests.clock import FROZEN_NOW
from tests.dsr_env import DsrEnv, demo_environment
from tests.pg_server import PgServer
from tests.retention_env import CONTOSO, NORTHWIND, RetentionCrm, retention_crm

# Tenant tombstones carry the wall-clock time the purge committed, so the backups of a test are
# placed around the real clock: taken "before" is two days ago, "after" is hours ahead.
NOW = FROZEN_NOW  # every test starts there (tests/conftest.py)
CLOSED = NOW - timedelta(days=40)  # due a month after closure: due at NOW
MARIA_USER = planted_id("us", 2)  # a User of Contoso
runner = CliRunner()


@dataclass
class Env:
    crm: RetentionCrm
    url: str
    store: BackupStore
    server: PgServer | None
    tenant: int  # the closed Client of the test
    made: list[str] = field(default_factory=list)

    @property
    def datamap(self) -> Any:
        return self.crm.connector().datamap

    def backup(self, at: datetime) -> Any:
        return self.store.snapshot("us", self.url, self.datamap, now=at)

    def purge(self, **kw: Any) -> Any:
        ctx = self.crm.context(NOW, backups=self.store.list(), **kw)
        [outcome] = run_purges(ctx, ["closed_clients"])
        return outcome

    def target(self, tmp_path: Path, name: str = "restored") -> str:
        if self.server is None:
            return str(tmp_path / name)
        made = self.server.create_database()
        self.made.append(made)
        return self.server.url(made)

    def restore(self, backup_id: str, target: str, **kw: Any) -> Any:
        factory = eraser_factory(self.crm.keys, **kw)
        return restore(self.store, backup_id, target, self.datamap, self.crm.tombstones, factory)

    def restored(self, target: str) -> Engine:
        url = f"sqlite:///{Path(target) / 'us.sqlite'}" if self.server is None else target
        return create_engine(url, poolclass=NullPool)

    def tenant_stones(self) -> list[dict[str, Any]]:
        stones = TenantTombstones(self.crm.tombstones.engine)
        with stones.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(tenant_tombstones_table)).mappings()]


@pytest.fixture
def env(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[Env]:
    server = request.getfixturevalue("pg_server") if db_url.startswith("postgresql") else None
    for crm in retention_crm(db_url, tmp_path / "home"):
        store = BackupStore(tmp_path / "backups", crm.keys, pg_bin_dir=server and server.bin_dir)
        made = Env(crm, db_url, store, server, busiest_tenant(crm.engine))
        yield made
        for name in made.made:
            server.drop_database(name)  # type: ignore[union-attr]


def tenant_contacts(engine: Engine, tenant: int) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(select(contacts.c.id).where(contacts.c.client_id == tenant)))


def busiest_tenant(engine: Engine) -> int:
    """The generated Client with the most contacts among those with invoices (billing kept)."""
    with engine.connect() as conn:
        billed = select(invoices.c.client_id).distinct()
        query = (
            select(contacts.c.client_id)
            .where(contacts.c.client_id.in_(billed))
            .group_by(contacts.c.client_id)
            .order_by(func.count().desc(), contacts.c.client_id)
        )
        return int(conn.scalars(query).first())  # type: ignore[arg-type]


def change_a_northwind_contact(env: Env) -> str:
    """An ordinary edit in another tenant after the backup: the restore must not bring it."""
    with env.crm.engine.begin() as conn:
        cid = conn.scalar(
            select(contacts.c.id).where(contacts.c.client_id == NORTHWIND).order_by(contacts.c.id)
        )
        conn.execute(update(contacts).where(contacts.c.id == cid).values(job_title="CFO (new)"))
    return str(cid)


def test_a_backup_from_before_the_purge_comes_back_without_the_tenant(
    env: Env, tmp_path: Path
) -> None:
    crm = env.crm
    crm.close_client(env.tenant, CLOSED)
    backup = env.backup(NOW - timedelta(days=2))
    others_at_backup = crm.snapshot(except_client=env.tenant)
    tenant_invoices = crm.rows(select(invoices.c.id).where(invoices.c.client_id == env.tenant))
    assert tenant_contacts(crm.engine, env.tenant) and tenant_invoices
    edited = change_a_northwind_contact(env)
    outcome = env.purge()
    assert outcome.ok and outcome.total > 0
    live = rows(crm.engine, env.datamap)

    target = env.target(tmp_path)
    report = env.restore(backup.backup_id, target)
    assert report.usable and report.verification_ok
    assert report.tenant_purges_considered == 1 and report.tenant_purges_reapplied == 1
    assert report.tombstones_reapplied == 0 and report.flags_considered == 0
    [replayed] = report.reapplied_tenants
    [item] = outcome.items
    assert replayed.request_id == item["request_id"] and replayed.client_id == str(env.tenant)
    # The same data-map actions on the same rows as the live purge: billing kept, not deleted.
    assert replayed.counts == outcome.counts["us"]
    assert replayed.counts["invoices"] == {"keep": len(tenant_invoices)}
    assert report.rows_changed == outcome.total

    engine = env.restored(target)
    try:
        restored = rows(engine, env.datamap)
        assert tenant_contacts(engine, env.tenant) == []
        kept = [dict(r) for r in engine.connect().execute(
            select(invoices).where(invoices.c.client_id == env.tenant)).mappings()]  # fmt: skip
        assert sorted(r["id"] for r in kept) == sorted(r["id"] for r in tenant_invoices)
        assert all(r["billing_email"] is None for r in kept)
        # Contoso's tenant is table by table what the live purge left; the only row that differs
        # from live is the edit made after the backup, which the restore rightly does not bring.
        differs = {k for k in restored.keys() | live.keys() if restored.get(k) != live.get(k)}
        assert differs == {("contacts", edited)}
        # Every other tenant is the backup's, row for row.
        copy = dataclasses.replace(crm, engine=engine)
        assert copy.snapshot(except_client=env.tenant) == others_at_backup
    finally:
        engine.dispose()


def test_a_backup_taken_after_the_purge_restores_with_nothing_re_applied(
    env: Env, tmp_path: Path
) -> None:
    env.crm.close_client(env.tenant, CLOSED)
    assert env.purge().ok
    live = rows(env.crm.engine, env.datamap)
    # Within the clock margin the purge is considered, and finds nothing of the tenant to purge;
    # beyond it, it is not even considered.
    near = env.backup(NOW + timedelta(minutes=30))
    later = env.backup(NOW + timedelta(hours=2))
    for backup, considered in ((near, 1), (later, 0)):
        target = env.target(tmp_path, backup.backup_id)
        report = env.restore(backup.backup_id, target)
        assert report.usable and report.tenant_purges_considered == considered
        assert report.tenant_purges_reapplied == 0 and report.rows_changed == 0
        engine = env.restored(target)
        try:
            assert rows(engine, env.datamap) == live
        finally:
            engine.dispose()


class Killed(BaseException):
    """The process dies: nothing after this point runs, no handler sees it."""


@pytest.mark.parametrize("point", ["planned", "committed", "proof_issued"])
def test_a_purge_resumed_after_a_crash_records_one_tenant_tombstone(
    env: Env, point: str, tmp_path: Path
) -> None:
    env.crm.close_client(env.tenant, CLOSED)
    backup = env.backup(NOW - timedelta(days=2))

    def kill(reached: str, key: str) -> None:
        if reached == point:
            raise Killed

    with pytest.raises(Killed):
        env.purge(checkpoint=kill)
    first = env.tenant_stones()
    # Recorded once the transaction committed, never before it.
    assert len(first) == (1 if point == "proof_issued" else 0)
    resumed = env.purge()
    assert resumed.ok and env.purge().total == 0  # resumed, then nothing left to do
    [record] = env.crm.ledger.list_requests()
    [stone] = env.tenant_stones()
    assert stone["request_id"] == record.request_id and stone["client_id"] == str(env.tenant)
    if first:
        assert stone["purged_at"] >= first[0]["purged_at"]  # the later attempt covers more

    target = env.target(tmp_path)
    report = env.restore(backup.backup_id, target)
    assert report.usable and report.tenant_purges_reapplied == 1
    engine = env.restored(target)
    try:
        assert tenant_contacts(engine, env.tenant) == []
    finally:
        engine.dispose()


def test_a_failed_tenant_re_purge_leaves_the_target_unusable(env: Env, tmp_path: Path) -> None:
    env.crm.close_client(env.tenant, CLOSED)
    backup = env.backup(NOW - timedelta(days=2))
    assert env.purge().ok

    def disk_full(step: str, conn: object) -> None:
        if step == "delete contacts":
            raise RuntimeError("disk full")

    target = env.target(tmp_path)
    with pytest.raises(RestoreFailed, match="made unusable") as caught:
        env.restore(backup.backup_id, target, step_hook=disk_full)
    assert "deleting rows of contacts" in str(caught.value) and not caught.value.report.usable
    if env.server is None:
        assert list(Path(target).iterdir()) == []  # no database that looks fine
    else:
        engine = create_engine(target, poolclass=NullPool)
        try:
            assert user_tables(engine) == ["dsr_restore_status"]
        finally:
            engine.dispose()


def test_expiry_forgets_the_tenant_tombstone_when_the_last_older_backup_goes(
    env: Env, tmp_path: Path
) -> None:
    crm = env.crm
    crm.close_client(env.tenant, CLOSED)
    older = env.backup(NOW - timedelta(days=2))
    outcome = env.purge()
    [item] = outcome.items
    request_id = item["request_id"]
    proof = json.loads(Path(item["proof"]).read_text())["proof"]
    assert older.backup_id in json.dumps(proof["pending"])  # the proof names the older backup
    newer = env.backup(NOW + timedelta(days=2))
    # A person's erasure at the same time, to show both kinds of tombstone go together.
    crm.tombstones.record(
        "r-person", {Identity("email", "x@example.org")}, "user_account", None, NOW
    )
    stones = TenantTombstones(crm.tombstones.engine)

    def expire(at: datetime) -> Any:
        return expire_backups(env.store, crm.tombstones, crm.ledger, crm.keys,
                              crm.home / "proofs", at)  # fmt: skip

    # Day 20: the older backup still holds the tenant; a restore of it needs the tombstone.
    early = expire(NOW + timedelta(days=20))
    assert early.removed == {} and request_id in early.awaiting
    assert early.tenant_tombstones_purged == 0 and stones.get(request_id) is not None
    # Day 29: it expired (day 28). Only the backup taken after the purge remains.
    late = expire(NOW + timedelta(days=29))
    assert late.removed == {"us": [older.backup_id]}
    assert late.remaining == {"us": [newer.backup_id]}
    assert late.tenant_tombstones_purged == 1 and stones.get(request_id) is None
    assert late.tombstones_purged == 1 and crm.tombstones.get("r-person") is None
    assert late.as_metadata()["tenant_tombstones_purged"] == 1
    # The closed-account proof's certificate: due once no backup older than the proof is left.
    assert late.certificates == [request_id]
    assert (crm.home / "proofs" / f"{request_id}.certificate.json").is_file()


# -- through the CLI -----------------------------------------------------------------------------


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as made:
        yield made


def cli(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_dsr_restore_backup_re_applies_a_purge_dsr_purge_made(demo: DsrEnv, tmp_path: Path) -> None:
    us_url = demo.settings.crm_urls["us"]
    with engine_for(us_url).begin() as conn:
        conn.execute(update(clients).values(status="active", closed_at=None))
        conn.execute(update(users).values(status="active", closed_at=None))
        conn.execute(
            update(clients).where(clients.c.id == CONTOSO).values(status="closed", closed_at=CLOSED)
        )
    us_backup = next(b["backup_id"] for b in cli("backup")["backups"] if b["region"] == "us")
    purged = cli("purge", "--only", "closed_clients")
    assert purged["ok"] and purged["purges"][0]["counts"]["us"]["users"] == {"anonymise": 1}

    report = cli("restore-backup", us_backup, "--target", str(tmp_path / "restored"))
    assert report["ok"] and report["verified"]
    assert report["tenant_purges_considered"] == 1 and report["tenant_purges_reapplied"] == 1
    assert report["erasures_reapplied"] == 0
    plain = runner.invoke(app, ["restore-backup", us_backup, "--target", str(tmp_path / "again")])
    assert plain.exit_code == 0
    assert "1 of 1 closed-account purges" in " ".join(plain.stdout.split())
    restored = create_engine(f"sqlite:///{tmp_path / 'restored' / 'us.sqlite'}")
    try:
        with restored.connect() as conn:
            maria = conn.execute(select(users.c.email).where(users.c.id == MARIA_USER)).scalar()
            billing = conn.scalars(select(invoices.c.billing_email).where(
                invoices.c.client_id == CONTOSO)).all()  # fmt: skip
        # Her account in the closed Client is emptied again; its invoices stay, emptied.
        assert maria is None and billing and all(b is None for b in billing)
    finally:
        restored.dispose()
