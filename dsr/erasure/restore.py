"""Restore a backup, re-apply every erasure recorded since it was taken, and only then hand it over.

A backup taken before an erasure still holds the person (policy 12 keeps backups one month, and
they are "beyond use" only as long as nobody restores them without the erasures). ``restore``:

1. checks the archive and index against their sha256 (a tampered backup is refused, the target
   untouched);
2. restores into the target, which must not hold a database yet — SQLite: gunzip to a hidden
   ``.<region>.sqlite.restoring`` in the target folder; PostgreSQL: ``pg_restore`` in one
   transaction into an empty database, with a ``dsr_restore_status`` row saying 'restoring';
3. for every tombstone, opt-out and restriction recorded since the snapshot
   (``dsr.erasure.tombstones``), in the order they happened: recognises the person in the restored
   copy by hash matching, then runs the same discovery and erasure, or the same data-map flags
   (``connectors.crm.flags``, with the time the live request wrote), a live request runs, with
   its scope and client — an erasure after an opt-out wins, as it did in the live database;
   closed-account purges (``dsr.erasure.tenant_tombstones``) run the retention purge's own code
   on the tenant (``dsr.retention.tenants.reapply_tenant_purge``) at their place in that order;
4. only when every re-applied request verified: SQLite renames the file to ``<region>.sqlite``;
   PostgreSQL marks the status row 'usable'.

Any failure makes the target unusable on purpose: the SQLite file is deleted; the PostgreSQL
tables are dropped and the status row says 'unusable' and why. A process killed half-way leaves a
hidden ``.restoring`` file or a 'restoring' status, never a database that looks fine.
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from connectors.backups.index import DIGEST_BYTES, IdentityIndex, key_id, scan_identities
from connectors.backups.pg import mark, quarantine, run_pg_tool, user_tables
from connectors.backups.record import (
    BackupCorrupt,
    BackupError,
    BackupNotFound,
    BackupRecord,
    ReappliedErasure,
    ReappliedFlag,
    ReappliedTenantPurge,
    RestoreFailed,
    RestoreRefused,
    RestoreReport,
)
from connectors.backups.store import BackupStore
from connectors.base import Findings, Identity
from connectors.crm.datamap import DataMap
from connectors.crm.flags import Action, CrmFlagger
from connectors.crm.sql import CrmSqlConnector
from connectors.crm.unrestrict import CrmUnrestrictor
from dsr.erasure.crm import CrmEraser
from dsr.erasure.tenant_tombstones import TenantTombstone, TenantTombstones
from dsr.erasure.tombstones import RestrictionLift, Suppression, Tombstone, Tombstones
from dsr.retention.tenants import reapply_tenant_purge

EraserFactory = Callable[[CrmSqlConnector], CrmEraser]
# Erasures up to this long before the snapshot are re-applied too: the CRM host's clock and the
# clock that stamped the tombstone may disagree, and re-applying an erasure changes nothing twice.
CLOCK_MARGIN = timedelta(hours=1)


def restore(
    store: BackupStore,
    backup_id: str,
    target: str,
    datamap: DataMap,
    tombstones: Tombstones,
    eraser_factory: EraserFactory,
) -> RestoreReport:
    """Restore ``backup_id`` into ``target``: a folder (SQLite) or a database URL (PostgreSQL)."""
    record = store.get(backup_id)
    store.verify(record)
    due = tombstones.since(record.created_at - CLOCK_MARGIN)
    flags = tombstones.suppressions_since(record.created_at - CLOCK_MARGIN, record.region)
    # Hashes under another key would match nothing, and the copy would come back unerased.
    current = key_id(tombstones.keys)
    foreign = sorted({t.request_id for t in (*due, *flags) if t.key_id != current})
    if record.key_id != current or foreign:
        raise RestoreRefused(
            f"the index of {record.backup_id} or tombstones {', '.join(foreign) or '-'} were "
            "made with another hash key: erasures could not be re-applied"
        )
    label = make_url(target).render_as_string(hide_password=True) if "://" in target else target
    report = RestoreReport(record.backup_id, record.region, record.backend, label, len(due))
    lifts = tombstones.lifts_since(record.created_at - CLOCK_MARGIN, record.region)
    report.flags_considered = len(flags) + len(lifts)
    # Closed-account purges name their tenant by its id: no hashes, nothing to match by key.
    tenants = TenantTombstones(tombstones.engine).since(
        record.created_at - CLOCK_MARGIN, record.region
    )
    report.tenant_purges_considered = len(tenants)
    job = _Job(
        store, record, datamap, tombstones, eraser_factory, report, due, flags, lifts, tenants
    )
    if record.backend == "sqlite":
        job.into_folder(target)
    else:
        job.into_postgres(target)
    return report


@dataclass
class _Job:
    store: BackupStore
    record: BackupRecord
    datamap: DataMap
    tombstones: Tombstones
    eraser_factory: EraserFactory
    report: RestoreReport
    # What happened since the snapshot, re-applied in time order.
    due: list[Tombstone]
    flags: list[Suppression]
    lifts: list[RestrictionLift]
    tenants: list[TenantTombstone]

    def into_folder(self, target: str) -> None:
        if "://" in target:
            raise RestoreRefused("a SQLite backup restores into a folder, not a database URL")
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{self.record.region}.sqlite"
        if final.exists():
            raise RestoreRefused(f"{final} exists: a restore never overwrites a database")
        work = folder / f".{self.record.region}.sqlite.restoring"
        _remove_sqlite(work)  # left by a restore that was killed: never usable anyway
        self.report.target = str(final)
        engine = _sqlite_engine(work)
        try:
            fd = os.open(work, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out, gzip.open(self.record.archive, "rb") as gz:
                shutil.copyfileobj(gz, out, 1 << 20)
            self._reapply(engine)
            engine.dispose()
            # A hard link, not a rename: it fails rather than replace a database that appeared
            # in the target meanwhile.
            os.link(work, final)
        except BaseException as exc:
            engine.dispose()
            _remove_sqlite(work)
            if isinstance(exc, Exception):
                raise self._failed(exc) from exc
            raise
        _remove_sqlite(work)
        self.report.usable = True

    def into_postgres(self, url: str) -> None:
        if make_url(url).get_backend_name() != "postgresql":
            raise RestoreRefused("a PostgreSQL backup restores into a postgresql:// database URL")
        self.report.target = make_url(url).render_as_string(hide_password=True)
        engine = create_engine(url, poolclass=NullPool, hide_parameters=True)
        try:
            existing = user_tables(engine)
            if existing:
                raise RestoreRefused(
                    f"the target database has {len(existing)} tables: a restore never "
                    "overwrites a database"
                )
            mark(engine, self.record.backup_id, "restoring")
            try:
                run_pg_tool(
                    "pg_restore",
                    ["--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges"],
                    url,
                    self.store.pg_bin_dir,
                    positional=[str(self.record.archive)],
                )
                self._reapply(engine)
            except Exception as exc:
                failure = self._failed(exc)
                try:
                    quarantine(engine, self.record.backup_id, self.report.error)
                except Exception as again:
                    failure = RestoreFailed(
                        f"{failure}; dropping the restored tables failed too "
                        f"({type(again).__name__}): the status row still says 'restoring'",
                        self.report,
                    )
                raise failure from exc
            mark(engine, self.record.backup_id, "usable", f"{self.report.summary()}, verified")
            self.report.usable = True
        finally:
            engine.dispose()

    def _reapply(self, engine: Engine) -> None:
        connector = CrmSqlConnector(
            self.record.region,
            engine,
            self.datamap,
            default_phone_region=self.store.default_phone_region,
        )
        # The data map must describe the copy, or no erasure could ever be applied to it.
        connector.validate()
        # The index says which recorded people are in this backup at all; the others need no
        # scan. Its checksum was verified with the archive's.
        entries: list[Tombstone | Suppression] = [*self.due, *self.flags]
        index = IdentityIndex(self.record.index)
        hits = index.contains(bytes.fromhex(h)[:DIGEST_BYTES] for e in entries for h in e.hashes)
        present = [
            e for e in entries if any(bytes.fromhex(h)[:DIGEST_BYTES] in hits for h in e.hashes)
        ]
        if not present and not self.lifts and not self.tenants:
            return
        owners: dict[str, list[int]] = defaultdict(list)
        for n, entry in enumerate(present):
            for digest in entry.hashes:
                owners[digest].append(n)
        recovered: dict[int, set[Identity]] = defaultdict(set)
        # One scan before anything changes: an erasure must not hide the person from an
        # opt-out that followed it, nor the reverse. (A lift names its rows: no scan for it.)
        with engine.connect() as conn:
            found = scan_identities(
                conn, self.datamap, self.store.default_phone_region, self.record.region
            )
            for _, ident in found if present else ():
                for n in owners.get(self.tombstones.digest(ident), ()):
                    recovered[n].add(ident)
        missing = sorted({e.request_id for n, e in enumerate(present) if not recovered.get(n)})
        if missing:
            raise BackupError(f"the index and the archive disagree on {', '.join(missing)}")
        eraser = self.eraser_factory(connector)
        flagger = CrmFlagger(connector)
        # In the order they happened in the live database; on a tie the erasure goes last, so
        # that it wins over an opt-out as it must, and a lift follows its restriction.
        timeline: list[Tombstone | Suppression | RestrictionLift | TenantTombstone] = [
            *present,
            *self.lifts,
            *self.tenants,
        ]
        order = sorted(range(len(timeline)), key=lambda n: _when(timeline[n]))
        for n in order:
            entry = timeline[n]
            if isinstance(entry, RestrictionLift):
                self.report.reapplied_flags.append(_lift(connector, entry))
                continue
            if isinstance(entry, TenantTombstone):
                self._tenant(eraser, entry)
                continue
            ids = recovered[n]
            key = entry.request_id
            findings = connector.find({key: ids}, scope=entry.scope, client_id=entry.client_id)
            if isinstance(entry, Suppression):
                self.report.reapplied_flags.append(
                    _flag(flagger, connector, entry, findings[key], ids)
                )
                continue
            result = eraser.erase(findings[key], ids, scope=entry.scope, client_id=entry.client_id)
            self.report.reapplied.append(
                ReappliedErasure(
                    request_id=key,
                    scope=entry.scope,
                    client_id=entry.client_id,
                    recovered=dict(sorted(Counter(i.kind for i in ids).items())),
                    rows_changed=result.changed,
                    verified=result.verification.ok,
                )
            )
        if not self.report.verification_ok:
            failed = [r.request_id for r in self.report.reapplied if not r.verified]
            failed += [f.request_id for f in self.report.reapplied_flags if not f.verified]
            failed += [t.request_id for t in self.report.reapplied_tenants if not t.verified]
            raise BackupError(f"re-applied requests did not verify: {', '.join(failed)}")

    def _tenant(self, eraser: CrmEraser, entry: TenantTombstone) -> None:
        # The retention purge's own code: same data-map actions, billing kept, same verification.
        replay = reapply_tenant_purge(eraser, entry.client_id, entry.purged_at.date())
        if replay.rows_changed or not replay.verification.ok:
            ok = replay.verification.ok
            tenant = ReappliedTenantPurge(entry.request_id, entry.client_id, replay.counts, ok)
            self.report.reapplied_tenants.append(tenant)

    def _failed(self, exc: Exception) -> RestoreFailed:
        # A database error's text can quote row values; its class name cannot.
        cause = type(exc.orig).__name__ if isinstance(exc, DBAPIError) else str(exc)
        self.report.usable = False
        self.report.error = f"{type(exc).__name__}: {cause}"
        return RestoreFailed(
            f"restore of {self.record.backup_id} made unusable: {self.report.error}", self.report
        )


def _when(
    entry: Tombstone | Suppression | RestrictionLift | TenantTombstone,
) -> tuple[datetime, int]:
    """When it happened, then its rank on a tie: flags, lifts, erasures (closed-account purges
    are erasures too)."""
    if isinstance(entry, Suppression):
        return entry.applied_at, 0
    if isinstance(entry, RestrictionLift):
        return entry.lifted_at, 1
    if isinstance(entry, TenantTombstone):
        return entry.purged_at, 2
    return entry.erased_at, 2


def _lift(connector: CrmSqlConnector, entry: RestrictionLift) -> ReappliedFlag:
    """Clear the rows the live lift cleared (those of them the copy holds), then check none
    still carries the flag."""
    unrestrictor = CrmUnrestrictor(connector)
    plan = unrestrictor.plan(entry.rows)
    changed = unrestrictor.apply(plan)
    return ReappliedFlag(
        request_id=entry.request_id,
        request_type="restriction_lift",
        scope=entry.scope,
        client_id=entry.client_id,
        recovered={},
        rows_changed=changed,
        verified=changed == plan.rows_changed and unrestrictor.plan(entry.rows).rows_changed == 0,
    )


def _flag(
    flagger: CrmFlagger,
    connector: CrmSqlConnector,
    entry: Suppression,
    findings: Findings,
    ids: set[Identity],
) -> ReappliedFlag:
    action = cast(Action, entry.action)
    # The live request's time, so ``now`` columns get the value the live database has.
    plan = flagger.plan(findings, action, at=entry.applied_at)
    changed = flagger.apply(plan)
    # Verified as the live request would be re-run: nothing left to set.
    again = connector.find({entry.request_id: ids}, scope=entry.scope, client_id=entry.client_id)
    left = flagger.plan(again[entry.request_id], action, at=entry.applied_at).rows_changed
    return ReappliedFlag(
        request_id=entry.request_id,
        request_type=entry.request_type,
        scope=entry.scope,
        client_id=entry.client_id,
        recovered=dict(sorted(Counter(i.kind for i in ids).items())),
        rows_changed=changed,
        verified=left == 0 and changed == plan.rows_changed,
    )


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        # Re-erased values must not linger in free pages of the copy either.
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    return engine


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


__all__ = [
    "BackupCorrupt",
    "BackupError",
    "BackupNotFound",
    "BackupRecord",
    "BackupStore",
    "ReappliedErasure",
    "ReappliedFlag",
    "RestoreFailed",
    "RestoreRefused",
    "RestoreReport",
    "Suppression",
    "Tombstone",
    "Tombstones",
    "restore",
]
