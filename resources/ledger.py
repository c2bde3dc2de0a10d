"""Hands out the request ledger and the key ring it hashes and encrypts with."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from dsr.keys import KeyRing
from dsr.ledger import Ledger
from dsr.ledger.business_calendar import DEFAULT_CALENDAR, business_calendar


@cache
def _ledger_for(url: str, keys_dir: str, calendar: str, checkpoints_dir: str) -> Ledger:
    # One engine (and one schema check) per ledger per process, shared by every step and sensor.
    ledger = Ledger(
        url,
        KeyRing(Path(keys_dir)),
        holidays=business_calendar(calendar),
        checkpoints_dir=Path(checkpoints_dir) if checkpoints_dir else None,
    )
    ledger.create_schema()
    return ledger


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
        return _ledger_for(self.url, self.keys_dir, self.business_calendar, self.checkpoints_dir)
