"""One ``Ledger`` per database per process, schema made: what the Dagster resource and the
command line both hand out (without importing Dagster, so a read-only command starts fast)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from dsr.keys import KeyRing
from dsr.ledger.ledger import Ledger


@cache
def ledger_for(url: str, keys_dir: str, calendar: str, checkpoints_dir: str) -> Ledger:
    # One engine (and one schema check) per ledger per process, shared by every step and sensor.
    ledger = Ledger(
        url,
        KeyRing(Path(keys_dir)),
        calendar=calendar,
        checkpoints_dir=Path(checkpoints_dir) if checkpoints_dir else None,
    )
    ledger.create_schema()
    return ledger
