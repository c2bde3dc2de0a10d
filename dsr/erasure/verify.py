"""After an erasure: search again, and make the erased values leave the database files.

What "physically gone" means here, per backend:

* **SQLite** — the engine runs with ``secure_delete=ON`` (``resources.engines`` sets it on every
  connection, and the erasure transaction sets it again), so deleted rows and the old versions
  of rewritten rows are overwritten with zeros in the pages that held them, free pages included.
  The erasure transaction's page images go through the write-ahead log;
  ``PRAGMA wal_checkpoint(TRUNCATE)`` copies them into the main file and truncates the ``-wal``
  file to zero bytes, so afterwards the value is in none of ``.sqlite``, ``-wal`` and ``-shm``.
  A reader holding an old snapshot blocks the truncation: that is reported as an error, never
  ignored. Blocks the file system freed earlier are outside SQLite's reach.
* **PostgreSQL** — a deleted or updated row stays in its table file as a dead tuple until
  VACUUM. ``VACUUM (FULL)`` rewrites each touched table with its indexes and TOAST into new files
  and unlinks the old ones, so no live file of the database holds the value. A plain
  ``VACUUM (ANALYZE)`` follows: only a plain VACUUM is recorded in ``pg_stat_user_tables``
  (``last_vacuum``) and rebuilds the visibility map, and ANALYZE replaces the values
  ``pg_statistic`` sampled from each column (histograms, most common values — an e-mail address
  can be one). ``pg_statistic`` is vacuumed (FULL) last, so its superseded rows go too. A role
  that does not own a table only gets a warning from VACUUM: the cleanup checks ``last_vacuum``
  and raises ``PhysicalCleanupError`` instead. With ``physical="vacuum"`` (no FULL) the space is
  only marked reusable: the bytes stay until overwritten. In every mode the **WAL segments** (and
  any WAL archive or replica) hold the old row images until they are recycled after later
  checkpoints, and earlier backups hold them until they expire: those are the documented limits.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from sqlalchemy import text
from sqlalchemy.engine import Engine

from connectors.base import Findings, Identity
from connectors.crm.datamap import DataMap
from connectors.crm.sql import CrmSqlConnector
from connectors.free_text import MentionMatcher
from dsr.erasure.plan import ColumnRules, row_until

Physical = Literal["vacuum_full", "vacuum", "none"]


@dataclass
class Remaining:
    table: str
    pk: str
    reason: str  # why it is still found; names columns and legal bases, never values


@dataclass
class Verification:
    ok: bool
    remaining: list[Remaining] = field(default_factory=list)
    unexpected: list[Remaining] = field(default_factory=list)
    identities_searched: int = 0


class PhysicalCleanupError(RuntimeError):
    """The erasure committed, but its old values may still be in the database files."""

    def __init__(self, region: str, tables: Collection[str], why: str) -> None:
        self.region, self.tables = region, sorted(tables)
        super().__init__(
            f"erasure in region {region!r} committed, but physical cleanup of "
            f"{', '.join(self.tables)} did not complete: {why}; run physical_cleanup again"
        )


def verify(
    connector: CrmSqlConnector,
    rules: Callable[[str], ColumnRules],
    identities: set[Identity],
    *,
    scope: str,
    client_id: str | None,
    today: date,
) -> Verification:
    """Discovery again, with every identity the subject had: what is still found, and why."""
    found = connector.find({"subject": set(identities)}, scope=scope, client_id=client_id)
    return classify(found["subject"], connector.datamap, rules, today)


def classify(
    found: Findings, datamap: DataMap, rules: Callable[[str], ColumnRules], today: date
) -> Verification:
    matcher = MentionMatcher(found.identities)
    remaining: list[Remaining] = []
    unexpected: list[Remaining] = []
    for row in found.rows:
        table, pk = row.ref.table, row.ref.pk
        tmap = datamap.tables[table]
        action = tmap.erasure.action if tmap.erasure else "delete"
        if action == "delete":
            unexpected.append(Remaining(table, pk, "not deleted, though the data map deletes it"))
            continue
        left = rules(table).leftovers(row.data, matcher)
        if left:
            why = f"{action} row still holds personal data in {', '.join(left)}"
            unexpected.append(Remaining(table, pk, why))
            continue
        until = row_until(tmap, row.data, today)
        if action == "keep":
            assert tmap.erasure is not None
            reason = f"kept: {tmap.erasure.legal_basis} until {until.isoformat() if until else '?'}"
        else:
            reason = "anonymised: no personal data left"
            if until:
                reason += f" (kept until {until.isoformat()})"
        remaining.append(Remaining(table, pk, reason))
    for m in found.mentions:
        why = f"mention of the subject in {m.column} not redacted"
        unexpected.append(Remaining(m.ref.table, m.ref.pk, why))
    return Verification(
        ok=not unexpected,
        remaining=remaining,
        unexpected=unexpected,
        identities_searched=len(found.identities),
    )


def physical_cleanup(
    engine: Engine, region: str, tables: Collection[str], physical: Physical
) -> None:
    """Make the values an erasure removed leave the database files (see the module docstring)."""
    if physical == "none" or not tables:
        return
    if engine.dialect.name == "sqlite":
        _sqlite_checkpoint(engine, region, tables)
    elif engine.dialect.name == "postgresql":
        _pg_vacuum(engine, region, tables, full=physical == "vacuum_full")


def _sqlite_checkpoint(engine: Engine, region: str, tables: Collection[str]) -> None:
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        if str(mode).lower() != "wal":
            return  # a rollback journal is deleted at commit; secure_delete did the rest
        busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        raise PhysicalCleanupError(region, tables, "a reader kept the write-ahead log busy")


def _pg_vacuum(engine: Engine, region: str, tables: Collection[str], *, full: bool) -> None:
    targets = [engine.dialect.identifier_preparer.quote(t) for t in sorted(tables)]
    # ANALYZE replaces the sampled values (histograms, most common values) pg_statistic kept
    # of these columns; the superseded catalog rows then go with a vacuum of pg_statistic.
    targets.append(_PG_STATISTIC)
    with engine.connect() as conn:
        # VACUUM cannot run inside a transaction block.
        conn.execution_options(isolation_level="AUTOCOMMIT")
        started = conn.exec_driver_sql("SELECT statement_timestamp()").scalar()
        for target in targets:
            if full:
                conn.exec_driver_sql(f"VACUUM (FULL) {target}")
            # Only a plain VACUUM is recorded in pg_stat_*_tables, and it rebuilds the visibility
            # map the rewrite left empty.
            options = "" if target == _PG_STATISTIC else " (ANALYZE)"
            conn.exec_driver_sql(f"VACUUM{options} {target}")
        # Without ownership VACUUM only warns and skips: check it really ran.
        conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        skipped = [
            target
            for target in targets
            if not conn.execute(_VACUUMED, {"target": target, "started": started}).scalar()
        ]
    if skipped:
        why = "VACUUM skipped " + ", ".join(skipped) + " (the role does not own them)"
        raise PhysicalCleanupError(region, tables, why)


_PG_STATISTIC = "pg_catalog.pg_statistic"
_VACUUMED = text(
    "SELECT last_vacuum >= :started FROM pg_stat_all_tables WHERE relid = CAST(:target AS regclass)"
)
