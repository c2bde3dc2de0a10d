"""`dsr backup` and `dsr restore-backup`: snapshots now, and restores that re-apply erasures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dsr.cli.fulfil import Session
from dsr.cli.output import console, emit_json, fail

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def backup(as_json: JsonOpt = False) -> None:
    """Snapshot every regional CRM now (with its identity index); prints the backup ids."""
    session = Session(as_json=as_json)
    session.connectors()  # every region reachable and fitting the data map, before any copy
    _ = session.ledger  # the home (announced if new) and the ledger exist before any copy
    store = session.resources["backups"].store()
    datamap = session.crm.datamap()
    records = [store.snapshot(r, session.crm.urls[r], datamap) for r in session.settings.regions]
    if as_json:
        emit_json(
            {
                "ok": True,
                "backups": [
                    {
                        "backup_id": r.backup_id,
                        "region": r.region,
                        "bytes": r.size,
                        "expires_at": r.expires_at,
                    }
                    for r in records
                ],
            }
        )
        return
    for r in records:
        console.print(f"{r.backup_id}  {r.size:,} bytes  expires {r.expires_at:%Y-%m-%d}")


def restore_backup(
    backup_id: str,
    target: Annotated[str, typer.Option(help="A folder (SQLite) or a database URL")],
    as_json: JsonOpt = False,
) -> None:
    """Restore a snapshot and re-apply every erasure, opt-out and restriction recorded since,
    before it is usable."""
    from connectors.backups.record import BackupError
    from dsr.erasure.crm import CrmEraser
    from dsr.erasure.restore import restore

    session = Session(as_json=as_json, creates=False)
    res = session.resources["backups"]
    try:
        record = res.store().get(backup_id)
    except BackupError as exc:
        fail(
            f"nothing restored: {exc}; `dsr backup` prints the ids of the backups it makes",
            as_json=as_json,
        )
    _check_target(record.backend, target, as_json)
    hasher = session.resources["ledger"].key_ring().keyed_hash
    physical = session.settings.physical_cleanup
    try:
        report = restore(
            res.store(),
            backup_id,
            target,
            session.crm.datamap(),
            res.tombstones(),
            lambda connector: CrmEraser(connector, hasher=hasher, physical=physical),  # type: ignore[arg-type]
        )
    except (BackupError, KeyError, ValueError) as exc:
        fail(f"restore of {backup_id} refused or failed: {exc}", as_json=as_json)
    payload = {
        "ok": report.usable,
        "backup_id": report.backup_id,
        "target": report.target,
        "erasures_considered": report.tombstones_considered,
        "erasures_reapplied": report.tombstones_reapplied,
        "tenant_purges_considered": report.tenant_purges_considered,
        "tenant_purges_reapplied": report.tenant_purges_reapplied,
        "flags_considered": report.flags_considered,
        "opt_outs_reapplied": report.flags_reapplied("opt_out"),
        "restrictions_reapplied": report.flags_reapplied("restriction"),
        "restriction_lifts_reapplied": report.flags_reapplied("restriction_lift"),
        "rows_changed": report.rows_changed,
        "verified": report.verification_ok,
        "error": report.error,
    }
    if as_json:
        emit_json(payload)
    else:
        console.print(
            f"{backup_id} restored into {report.target}: {report.summary()}; "
            + ("usable" if report.usable else f"NOT usable: {report.error}")
        )
    if not report.usable:
        raise typer.Exit(1)


def _check_target(backend: str, target: str, as_json: bool) -> None:
    """A SQLite backup goes into a folder, a PostgreSQL one into an empty database's URL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if backend == "sqlite":
        if "://" in target:
            fail(
                f"nothing restored: a SQLite backup restores into a folder, not {target!r}",
                as_json=as_json,
            )
        path = Path(target).expanduser()
        if path.exists() and not path.is_dir():
            fail(
                f"nothing restored: --target {target} is a file; give a folder (new or empty) "
                "for the restored database",
                as_json=as_json,
            )
        return
    try:
        backend_name = make_url(target).get_backend_name()
    except ArgumentError:
        backend_name = ""
    if backend_name != "postgresql":
        fail(
            "nothing restored: a PostgreSQL backup restores into an empty database: "
            "--target postgresql+psycopg://USER@HOST/DATABASE",
            as_json=as_json,
        )
