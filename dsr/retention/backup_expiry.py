"""One backup-expiry run: delete what is past retention, then certify the erasures it completes.

What it does, in an order that a crash at any point leaves recoverable by the next run:

1. sweep what crashed snapshots left behind;
2. for each backup past retention (``BackupStore.expired``: never a region's newest): append a
   ``backup_expired`` audit entry, then delete the files. The entry comes first, so a crash
   between the two leaves a listed backup *with* an entry, and the next run deletes it without a
   second one: exactly one entry per deleted backup. A backup whose entry exists is deleted even
   if a changed retention would now keep it — the decision is on record;
3. final certificates: who needs one is derived every run from the ledger and the proof store,
   never from what this run deleted — each request with a deletion proof that named backups
   holding the person and no certificate file yet. A certificate is issued once none of those
   backups exists and no remaining backup taken before the erasure (up to the clock margin
   restores use) has any of the request's tombstone hashes in its index. Backups taken after
   it hold only what the erasure kept with a legal basis, which the proof already names. A
   request without a tombstone (a closed Client account's purge) waits until every backup taken
   before its proof is gone;
4. tombstones older than the oldest remaining backup (less a day) are purged — except those of
   requests still waiting for their certificate: without them nobody could tell when a remaining
   backup stops holding the person. Opt-out and restriction suppressions older than that are
   purged too: every remaining backup already carries their flags. So are closed-account purges'
   tenant tombstones (``dsr.erasure.tenant_tombstones``), with the same exception: every remaining
   backup was taken after the purge, so no restore needs to purge the tenant again.

A step that fails for one request (a missing proof file, a key mismatch, an unwritable store)
is reported in ``problems`` and the rest of the run goes on; the caller fails the run when
``problems`` is not empty, so it is visibly incomplete, and the next run tries again.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.backups.index import DIGEST_BYTES, IdentityIndex, key_id
from connectors.backups.record import BackupError, BackupRecord
from connectors.backups.store import BackupStore
from dsr.erasure.restore import CLOCK_MARGIN
from dsr.erasure.tenant_tombstones import TenantTombstones
from dsr.erasure.tombstones import Tombstones
from dsr.keys import KeyRing
from dsr.ledger import AuditEntry, Ledger
from dsr.proof.canonical import NotCanonical, digest, loads
from dsr.proof.certificate import (
    DeletedBackup,
    build_certificate,
    certificate_path,
    issue_certificate,
)
from dsr.proof.sign import EVENT as PROOF_EVENT
from dsr.proof.sign import SUFFIX as PROOF_SUFFIX

EXPIRED_EVENT = "backup_expired"
_BACKUP_IN_TEXT = re.compile(r"\bb-[a-z0-9_]+-\d{8}T\d{6}Z-[0-9a-f]{6}\b")


@dataclass
class ExpiryReport:
    now: datetime
    removed: dict[str, list[str]] = field(default_factory=dict)  # region -> backup ids
    remaining: dict[str, list[str]] = field(default_factory=dict)
    certificates: list[str] = field(default_factory=list)  # request ids issued this run
    awaiting: list[str] = field(default_factory=list)  # still held by a remaining backup
    problems: list[str] = field(default_factory=list)  # "<request id or backup id>: why"
    tombstones_purged: int = 0
    tenant_tombstones_purged: int = 0
    suppressions_purged: int = 0
    partials_swept: int = 0

    def as_metadata(self) -> dict[str, Any]:
        return {
            "as_of": self.now.isoformat(),
            "removed": self.removed,
            "removed_count": sum(len(v) for v in self.removed.values()),
            "remaining": self.remaining,
            "remaining_count": sum(len(v) for v in self.remaining.values()),
            "certificates_issued": self.certificates,
            "awaiting_certificate": self.awaiting,
            "problems": self.problems,
            "tombstones_purged": self.tombstones_purged,
            "tenant_tombstones_purged": self.tenant_tombstones_purged,
            "suppressions_purged": self.suppressions_purged,
            "partials_swept": self.partials_swept,
        }


@dataclass
class _Claim:
    """What the proofs of one request say: the first proof's entry, the backups they named."""

    first: AuditEntry
    last: AuditEntry  # the latest proof: when the erasure (or its re-run) completed
    backups: set[str]


def expire_backups(
    store: BackupStore,
    tombstones: Tombstones,
    ledger: Ledger,
    keys: KeyRing,
    proofs_dir: Path,
    now: datetime,
) -> ExpiryReport:
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    report = ExpiryReport(now=now)
    report.partials_swept = len(store.sweep_partials())
    _delete_due(store, ledger, now, report)
    remaining = store.list()
    for record in remaining:
        report.remaining.setdefault(record.region, []).append(record.backup_id)
    entries = ledger.audit_entries()
    keep = _certify(tombstones, ledger, keys, Path(proofs_dir), entries, remaining, report)
    if remaining:
        oldest = min(r.created_at for r in remaining)
        # A tombstone matters while a backup older than its erasure exists, or a certificate
        # still depends on it.
        report.tombstones_purged = tombstones.purge_before(oldest - timedelta(days=1), keep=keep)
        report.tenant_tombstones_purged = TenantTombstones(tombstones.engine).purge_before(
            oldest - timedelta(days=1), keep=keep
        )
        # Opt-outs and restrictions no certificate depends on: only restores need them.
        report.suppressions_purged = tombstones.purge_suppressions_before(
            oldest - timedelta(days=1)
        )
    return report


def _expiry_entries(entries: list[AuditEntry]) -> dict[str, AuditEntry]:
    out: dict[str, AuditEntry] = {}
    for entry in entries:
        if entry.event == EXPIRED_EVENT and entry.request_id is None:
            out.setdefault(str(entry.details.get("backup_id")), entry)
    return out


def _delete_due(store: BackupStore, ledger: Ledger, now: datetime, report: ExpiryReport) -> None:
    recorded = _expiry_entries(ledger.audit_entries())
    due = {r.backup_id: r for r in store.expired(now)}
    # Deletions on record that a crash interrupted: finished whatever the retention says now,
    # but a region's newest backup is still never removed.
    newest = {}
    for record in store.list():
        newest[record.region] = record.backup_id
    for record in store.list():
        if record.backup_id in recorded and newest[record.region] != record.backup_id:
            due.setdefault(record.backup_id, record)
    for record in sorted(due.values(), key=lambda r: (r.created_at, r.backup_id)):
        if record.backup_id not in recorded:
            ledger.audit(None, EXPIRED_EVENT, _deletion_details(record))
        try:
            store.delete(record.backup_id)
        except OSError as exc:
            raise BackupError(
                f"{record.backup_id}: its files could not be deleted ({type(exc).__name__}: "
                f"{exc.strerror}); the expiry is on record and the next run deletes it"
            ) from exc
        report.removed.setdefault(record.region, []).append(record.backup_id)


def _deletion_details(record: BackupRecord) -> dict[str, Any]:
    return {
        "backup_id": record.backup_id,
        "region": record.region,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
    }


def _claims(
    proofs_dir: Path, entries: list[AuditEntry], report: ExpiryReport, keep: set[str]
) -> dict[str, _Claim]:
    """Requests with a deletion proof and no certificate file, and the backups their proofs name."""
    proofs: dict[str, list[AuditEntry]] = defaultdict(list)
    for entry in entries:
        if entry.event == PROOF_EVENT and entry.request_id:
            proofs[entry.request_id].append(entry)
    claims = {}
    for request_id, recorded in sorted(proofs.items()):
        if certificate_path(proofs_dir, request_id).is_file():
            continue
        shas = {e.details.get("proof_sha256") for e in recorded}
        named: set[str] = set()
        found = 0
        # The current proof and every earlier one kept under its hash; only bodies the ledger
        # records count, so a file dropped into the folder cannot name or hide a backup.
        for path in proofs_dir.glob(f"{request_id}*{PROOF_SUFFIX}"):
            try:
                body = loads(path.read_bytes())["proof"]
            except (NotCanonical, OSError, KeyError, TypeError):
                continue
            if digest(body) not in shas:
                continue
            found += 1
            for item in body.get("pending", []):
                if isinstance(item, dict) and item.get("system") == "backups":
                    named.update(_BACKUP_IN_TEXT.findall(str(item.get("what", ""))))
        if not found:
            report.problems.append(f"{request_id}: no proof file the ledger records was found")
            keep.add(request_id)  # whatever it named, its tombstone may still be needed
            continue
        if named:
            claims[request_id] = _Claim(
                first=min(recorded, key=lambda e: e.seq),
                last=max(recorded, key=lambda e: e.seq),
                backups=named,
            )
    return claims


def _certify(
    tombstones: Tombstones,
    ledger: Ledger,
    keys: KeyRing,
    proofs_dir: Path,
    entries: list[AuditEntry],
    remaining: list[BackupRecord],
    report: ExpiryReport,
) -> set[str]:
    """Issue what is due; returns the request ids whose tombstones must be kept."""
    deletions = _expiry_entries(entries)
    present = {r.backup_id for r in remaining}
    current = key_id(keys)
    keep: set[str] = set()
    for request_id, claim in _claims(proofs_dir, entries, report, keep).items():
        keep.add(request_id)
        if claim.backups & present:
            report.awaiting.append(request_id)
            continue
        unrecorded = sorted(b for b in claim.backups if b not in deletions)
        if unrecorded:
            report.problems.append(
                f"{request_id}: {', '.join(unrecorded)} disappeared without an expiry entry"
            )
            continue
        stone = tombstones.get(request_id)
        if stone is None:
            # No keyed hashes to look for (a closed Client account's purge records none): then
            # every backup taken before the erasure completed must be gone, holding it or not.
            horizon = claim.last.at + CLOCK_MARGIN
            if any(r.created_at <= horizon for r in remaining):
                report.awaiting.append(request_id)
                continue
        else:
            if stone.key_id != current:
                report.problems.append(f"{request_id}: its tombstone is under another hash key")
                continue
            foreign = [r.backup_id for r in remaining if r.key_id != current]
            if foreign:
                report.problems.append(f"{request_id}: {', '.join(foreign)} use another key")
                continue
            digests = {bytes.fromhex(h)[:DIGEST_BYTES] for h in stone.hashes}
            # A backup taken after the erasure holds what the erasure kept (billing, with its
            # legal basis: the proof says so) and nothing it removed; restores re-apply the
            # erasure to the same backups (up to CLOCK_MARGIN after it): "holds" means the same.
            before = [r for r in remaining if r.created_at <= stone.erased_at + CLOCK_MARGIN]
            if any(IdentityIndex(r.index).contains_any(digests) for r in before):
                report.awaiting.append(request_id)
                continue
        held = [
            DeletedBackup(
                backup_id=b,
                region=str(deletions[b].details.get("region")),
                created_at=str(deletions[b].details.get("created_at")),
                expires_at=str(deletions[b].details.get("expires_at")),
                deletion=deletions[b],
            )
            for b in sorted(claim.backups)
        ]
        try:
            body = build_certificate(request_id, claim.first, held)
            issue_certificate(body, keys, ledger, proofs_dir, remaining_checked=len(remaining))
        except (OSError, ValueError) as exc:
            report.problems.append(f"{request_id}: certificate not issued ({type(exc).__name__})")
            continue
        report.certificates.append(request_id)
        keep.discard(request_id)
    return keep


__all__ = ["EXPIRED_EVENT", "ExpiryReport", "expire_backups"]
