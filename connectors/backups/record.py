"""What the backup store knows about one backup, and the errors backups and restores raise.

``BackupRecord`` is also the JSON metadata file beside each archive: times, sizes, checksums, row
counts per table — nothing about any person. ``RestoreReport`` is what a restore hands back and
what the CLI prints.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.backups.index import INDEX_FORMAT

BACKUP_ID = re.compile(r"^b-([a-z0-9_]+)-(\d{8}T\d{6}Z)-([0-9a-f]{6})$")


class BackupError(RuntimeError):
    """A backup could not be taken, found, trusted or restored; the message says which and why."""


class BackupNotFound(BackupError, LookupError):
    pass


class BackupCorrupt(BackupError):
    """An archive or index whose checksum no longer matches its metadata: never restored."""


@dataclass(frozen=True)
class BackupRecord:
    backup_id: str
    region: str
    backend: str
    created_at: datetime
    expires_at: datetime
    archive: Path
    index: Path
    size: int
    sha256: str
    index_entries: int
    index_sha256: str
    key_id: str
    datamap: str
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def metadata_path(self) -> Path:
        return self.archive.with_name(f"{self.backup_id}.json")

    def to_json(self) -> dict[str, Any]:
        return {
            "backup_id": self.backup_id,
            "region": self.region,
            "backend": self.backend,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "archive": self.archive.name,
            "size": self.size,
            "sha256": self.sha256,
            "index": {
                "file": self.index.name,
                "format": INDEX_FORMAT,
                "entries": self.index_entries,
                "sha256": self.index_sha256,
                "hash_key_id": self.key_id,
            },
            "datamap": self.datamap,
            "tables": self.tables,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path) -> BackupRecord:
        return cls(
            backup_id=data["backup_id"],
            region=data["region"],
            backend=data["backend"],
            created_at=datetime.fromisoformat(data["created_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            archive=folder / data["archive"],
            index=folder / data["index"]["file"],
            size=int(data["size"]),
            sha256=data["sha256"],
            index_entries=int(data["index"]["entries"]),
            index_sha256=data["index"]["sha256"],
            key_id=data["index"]["hash_key_id"],
            datamap=data["datamap"],
            tables={k: int(v) for k, v in data["tables"].items()},
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RestoreRefused(BackupError):
    """The target already holds a database, or does not fit the backup; nothing was changed."""


class RestoreFailed(BackupError):
    """Restored, but an erasure could not be re-applied: the target was made unusable."""

    def __init__(self, message: str, report: RestoreReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class Reapplied:
    """A request applied again on a restored copy (dsr.erasure.tombstones)."""

    request_id: str
    scope: str
    client_id: str | None
    # identity kind -> values recognised in the restored copy by their keyed hash
    recovered: dict[str, int]
    rows_changed: int
    verified: bool


@dataclass
class ReappliedErasure(Reapplied):
    """An erasure."""


@dataclass
class ReappliedFlag(Reapplied):
    """An opt-out or restriction set again, or a restriction's lift."""

    request_type: str  # opt_out | restriction | restriction_lift


@dataclass
class ReappliedTenantPurge:
    """A closed Client's purge run again on a restored copy (dsr.erasure.tenant_tombstones)."""

    request_id: str
    client_id: str
    counts: dict[str, dict[str, int]]  # table -> action -> rows changed
    verified: bool

    @property
    def rows_changed(self) -> int:
        return sum(n for acts in self.counts.values() for n in acts.values())


@dataclass
class RestoreReport:
    backup_id: str
    region: str
    backend: str
    target: str
    tombstones_considered: int = 0
    reapplied: list[ReappliedErasure] = field(default_factory=list)
    flags_considered: int = 0
    reapplied_flags: list[ReappliedFlag] = field(default_factory=list)
    tenant_purges_considered: int = 0
    # Only purges whose tenant the copy still held (or that did not verify).
    reapplied_tenants: list[ReappliedTenantPurge] = field(default_factory=list)
    usable: bool = False
    error: str = ""

    @property
    def tombstones_reapplied(self) -> int:
        return len(self.reapplied)

    @property
    def tenant_purges_reapplied(self) -> int:
        return len(self.reapplied_tenants)

    @property
    def rows_changed(self) -> int:
        return (
            sum(r.rows_changed for r in self.reapplied)
            + sum(f.rows_changed for f in self.reapplied_flags)
            + sum(t.rows_changed for t in self.reapplied_tenants)
        )

    def flags_reapplied(self, request_type: str) -> int:
        return sum(1 for f in self.reapplied_flags if f.request_type == request_type)

    def summary(self) -> str:
        """What was re-applied, for the status row and the command line: counts only."""
        return (
            f"re-applied {self.tombstones_reapplied} of {self.tombstones_considered} erasures, "
            f"{self.tenant_purges_reapplied} of {self.tenant_purges_considered} closed-account "
            f"purges, {self.flags_reapplied('opt_out')} opt-outs, "
            f"{self.flags_reapplied('restriction')} restrictions and "
            f"{self.flags_reapplied('restriction_lift')} restriction lifts; "
            f"{self.rows_changed} rows changed"
        )

    @property
    def verification_ok(self) -> bool:
        return (
            all(r.verified for r in self.reapplied)
            and all(f.verified for f in self.reapplied_flags)
            and all(t.verified for t in self.reapplied_tenants)
        )
