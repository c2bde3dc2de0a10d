"""Hands out the request ledger and the key ring it hashes and encrypts with."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from dsr.keys import KeyRing
from dsr.ledger import Ledger
from dsr.ledger.business_calendar import DEFAULT_CALENDAR
from dsr.ledger.opening import ledger_for


class LedgerResource(ConfigurableResource):
    url: str = Field(description="SQLAlchemy URL of the request ledger database")
    keys_dir: str = Field(description="Folder of the hash, data and signing keys")
    business_calendar: str = Field(
        default=DEFAULT_CALENDAR,
        description="Public holidays an opt-out's ten business days skip (US, DE-BY, none)",
    )
    checkpoints_dir: str = Field(
        default="",
        description="Where signed checkpoints of the audit chain's head are kept, outside the "
        "ledger database (the proof store); empty: none",
    )

    def key_ring(self) -> KeyRing:
        return KeyRing(Path(self.keys_dir))

    def ledger(self) -> Ledger:
        return ledger_for(self.url, self.keys_dir, self.business_calendar, self.checkpoints_dir)
