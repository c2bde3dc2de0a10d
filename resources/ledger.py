"""Hands out the request ledger and the key ring it hashes and encrypts with."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from dsr.keys import KeyRing
from dsr.ledger import Ledger


class LedgerResource(ConfigurableResource):
    url: str = Field(description="SQLAlchemy URL of the request ledger database")
    keys_dir: str = Field(description="Folder of the hash, data and signing keys")

    def keys(self) -> KeyRing:
        return KeyRing(Path(self.keys_dir))

    def ledger(self) -> Ledger:
        ledger = Ledger(self.url, self.keys())
        ledger.create_schema()
        return ledger
