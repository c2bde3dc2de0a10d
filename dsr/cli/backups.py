"""`dsr backup` and `dsr restore-backup`: snapshots now, and restores that re-apply erasures."""

from __future__ import annotations

from typing import Annotated

import typer

from dsr.cli.fulfil import Session
from dsr.cli.output import console, emit_json, fail

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def backup(as_json: JsonOpt = False) -> None:
    """Snapshot every regional CRM now (with its identity index); prints the backup ids."""
    session = Session()
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
    from connectors.backup_record import BackupCorrupt, RestoreFailed, RestoreRefused
    from connectors.backups import restore
    from connectors.crm_erase import CrmEraser

    session = Session()
    res = session.resources["backups"]
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
    except (BackupCorrupt, RestoreRefused, RestoreFailed, KeyError, ValueError) as exc:
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
