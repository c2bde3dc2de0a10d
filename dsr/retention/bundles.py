"""Export bundles past their retention (default 30 days) are deleted from every export store.

A bundle's age is the ``generated_at`` its signed manifest records (a copied or touched file
keeps its age); a ZIP without a readable manifest falls back to the file's modification time.
Only files named like a bundle (``<request id>.zip``) are considered. Each deletion is an audit
entry naming the file and its request, nothing else.

Breach-impact reports (``breach/<breach id>/`` in a store) name people too, so they expire with
the same retention; their age is the time in their id (no need to read a large report).
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dsr.ledger import REQUEST_ID_PATTERN, UnknownRequest
from dsr.retention.purges import PurgeContext, PurgeOutcome, first_line

PURGE = "export_bundles"
AUDIT_EVENT = "export_bundle_expired"
BREACH_AUDIT_EVENT = "breach_report_expired"
_BREACH_ID = re.compile(r"\Abreach-(\d{8}T\d{6}Z)-[0-9a-f]{6}\Z")
MANIFEST = "manifest.json"


def generated_at(path: Path) -> datetime:
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
        when = datetime.fromisoformat(manifest["generated_at"])
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def expired_bundles(ctx: PurgeContext) -> list[tuple[str, Path, datetime]]:
    keep_for = timedelta(days=ctx.export_retention_days)
    found = []
    for region, folder in sorted(ctx.export_dirs.items()):
        if not Path(folder).is_dir():
            continue
        for path in sorted(Path(folder).glob("*.zip")):
            if not REQUEST_ID_PATTERN.match(path.stem):
                continue
            made = generated_at(path)
            if ctx.now - made >= keep_for:
                found.append((region, path, made))
    return found


def expired_breach_reports(ctx: PurgeContext) -> list[tuple[str, Path, datetime]]:
    keep_for = timedelta(days=ctx.export_retention_days)
    found = []
    for region, folder in sorted(ctx.export_dirs.items()):
        for path in sorted((Path(folder) / "breach").glob("breach-*")):
            match = _BREACH_ID.match(path.name)
            if not match or not path.is_dir():
                continue
            made = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            if ctx.now - made >= keep_for:
                found.append((region, path, made))
    return found


def purge_expired_bundles(ctx: PurgeContext) -> PurgeOutcome:
    outcome = PurgeOutcome(PURGE, ctx.dry_run)
    _purge_breach_reports(ctx, outcome)
    for region, path, made in expired_bundles(ctx):
        item = {
            "bundle": path.name,
            "region": region,
            "generated_at": made.isoformat(),
            "status": "would_delete" if ctx.dry_run else "deleted",
        }
        if not ctx.dry_run:
            try:
                # Recorded first: a deletion is never unrecorded, and one that failed is retried
                # (and recorded again) by the next run.
                _audit(ctx, path, region, made)
                path.unlink(missing_ok=True)
            except Exception as exc:
                outcome.failures.append(f"bundle {path.name} ({region}): {first_line(exc)}")
                continue
        outcome.add(region, "bundles", "delete", 1)
        outcome.items.append(item)
    return outcome


def _purge_breach_reports(ctx: PurgeContext, outcome: PurgeOutcome) -> None:
    for region, path, made in expired_breach_reports(ctx):
        details = {"breach_id": path.name, "region": region, "generated_at": made.isoformat()}
        if not ctx.dry_run:
            try:
                ctx.ledger.audit(None, BREACH_AUDIT_EVENT, details)
                shutil.rmtree(path)
            except Exception as exc:
                outcome.failures.append(f"breach report {path.name} ({region}): {first_line(exc)}")
                continue
        outcome.add(region, "breach_reports", "delete", 1)
        outcome.items.append({**details, "status": "would_delete" if ctx.dry_run else "deleted"})


def _audit(ctx: PurgeContext, path: Path, region: str, made: datetime) -> None:
    details = {"bundle": path.name, "region": region, "generated_at": made.isoformat()}
    try:
        ctx.ledger.audit(path.stem, AUDIT_EVENT, details)
    except UnknownRequest:
        ctx.ledger.audit(None, AUDIT_EVENT, details)  # a bundle of a request this ledger lacks
