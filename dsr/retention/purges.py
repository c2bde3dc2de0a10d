"""Retention purges (privacy policy 12): what every purge is given, and what it reports.

Four purges keep the time-based promises, each in its own module:

* ``tenants`` — a closed Client's contents, one transaction and one signed proof per
  account, through the erasure machinery and the data map's actions;
* ``users`` — a closed User's account, queued as a normal erasure request;
* ``billing`` — kept rows (billing) whose retention period is over;
* ``bundles`` — export bundles older than their retention.

Every purge takes an explicit ``now`` (a schedule passes its tick time), is idempotent (a second
run changes nothing), and in a dry run computes exactly what it would do and changes nothing —
no database row, no ledger entry, no file. Reports carry region, table and counts, request ids
and keyed hashes: never a value from a row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from connectors.crm.sql import CrmSqlConnector
from dsr.erasure.apply import StepHook
from dsr.erasure.tombstones import Tombstones
from dsr.ledger.audit import redact
from dsr.retention.dates import utc_now

# Counts under an action starting with this are accounts kept back, e.g. "held: restricted".
HELD = "held: "

# Called with (checkpoint, account key) at the points a crash would leave work half-done
# ("planned", "committed", "proof_issued"); tests use it to stop a purge there.
Checkpoint = Callable[[str, str], None]


@dataclass
class PurgeContext:
    connectors: Sequence[CrmSqlConnector]
    ledger: Any  # dsr.ledger.Ledger
    keys: Any  # dsr.keys.KeyRing
    proofs_dir: Path
    now: datetime
    dry_run: bool = False
    physical: str = "vacuum_full"
    export_dirs: Mapping[str, Path] = field(default_factory=dict)
    export_retention_days: int = 30
    # Snapshots (connectors.backups.record.BackupRecord): a proof names those that still hold an
    # account's rows, with the date they expire.
    backups: Sequence[Any] = ()
    # Where a committed closed-Client purge is recorded, so restores re-apply it (the ledger
    # database's dsr.erasure.tombstones.Tombstones); a real closed-Client purge refuses to run
    # without it.
    tombstones: Tombstones | None = None
    step_hook: StepHook | None = None
    checkpoint: Checkpoint | None = None

    def __post_init__(self) -> None:
        self.now = utc_now(self.now)
        if self.export_retention_days < 1:
            raise ValueError("export bundles must be kept at least one day")

    @property
    def today(self) -> date:
        return self.now.date()

    def reached(self, point: str, key: str) -> None:
        if self.checkpoint is not None:
            self.checkpoint(point, key)


@dataclass
class PurgeOutcome:
    """What one purge did (or, in a dry run, would do)."""

    purge: str
    dry_run: bool
    # region -> table -> action -> rows; actions are the data map's (delete, anonymise, keep),
    # "queued" for accounts handed to an erasure request, "deleted" for bundle files.
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # One entry per account or file: ids, keyed hashes, request ids, states. No row values.
    items: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, region: str, table: str, action: str, rows: int) -> None:
        by_action = self.counts.setdefault(region, {}).setdefault(table, {})
        by_action[action] = by_action.get(action, 0) + rows

    def merge(self, region: str, counts: Mapping[str, Mapping[str, int]]) -> None:
        for table, actions in counts.items():
            for action, rows in actions.items():
                if rows:
                    self.add(region, table, action, rows)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def total(self) -> int:
        """Rows purged or queued; accounts held back (``held: ...``) are not."""
        return sum(
            n
            for tables in self.counts.values()
            for acts in tables.values()
            for action, n in acts.items()
            if not action.startswith(HELD)
        )

    def lines(self) -> list[str]:
        """One line per region and table, for logs and plain output."""
        return [
            f"{self.purge} {region}.{table}: "
            + ", ".join(f"{action}={n}" for action, n in sorted(actions.items()))
            for region, tables in sorted(self.counts.items())
            for table, actions in sorted(tables.items())
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "purge": self.purge,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "total": self.total,
            "counts": self.counts,
            "items": self.items,
            "failures": self.failures,
        }


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    # Failures reach logs and run metadata: anything shaped like an e-mail or phone goes.
    return redact(f"{type(exc).__name__}: {text[0][:300] if text else ''}")
