"""Hands out the backup store (snapshots + identity indexes) and the erasure tombstones."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from connectors.backups.store import BackupStore
from dsr.erasure.tombstones import Tombstones
from dsr.keys import KeyRing


@cache
def _tombstones(url: str, keys_dir: str) -> Tombstones:
    # One engine per ledger database per process, like the ledger itself.
    return Tombstones(url, KeyRing(Path(keys_dir)))


class BackupsResource(ConfigurableResource):
    backups_dir: str = Field(description="Folder of CRM snapshots, their indexes and metadata")
    retention_days: int = Field(default=30, description="Backups are kept this long (policy 12)")
    ledger_url: str = Field(description="Database holding the tombstones (the ledger's)")
    keys_dir: str = Field(description="Folder of the hash key")
    default_phone_region: str = Field(default="US", description="As the CRM connectors use")

    def store(self) -> BackupStore:
        return BackupStore(
            Path(self.backups_dir),
            KeyRing(Path(self.keys_dir)),
            retention_days=self.retention_days,
            default_phone_region=self.default_phone_region,
        )

    def tombstones(self) -> Tombstones:
        return _tombstones(self.ledger_url, self.keys_dir)
