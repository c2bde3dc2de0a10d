"""Lifting a restriction (Art. 18(3)): clear the data map's ``restriction`` flag on given rows.

Which rows is the caller's to say: those the lifted restriction covers, less those another
restriction still in force covers (``keep``). A column goes back to ``false`` where the data map
sets ``true`` (and ``true`` where it sets ``false``), and to NULL where it sets anything else — a
``now`` time or a fixed value marks the row, its absence is no value. A row that carries none of
the flag's values is left alone, so lifting again changes nothing. Each database in one
transaction (``CrmFlagger.apply``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from connectors.base import Findings
from connectors.crm.flags import NOW, CrmFlagger, FlagChange, FlagPlan
from connectors.crm.sql import CrmSqlConnector
from connectors.crm.sql_helpers import key_clause, key_columns, pk_order, row_key

# A row as a lift names it: (table, primary key as text), as the ``restricted`` audit entry does.
RowKey = tuple[str, str]


def cleared_value(value: bool | int | str) -> bool | None:
    return (not value) if isinstance(value, bool) else None


def carries(current: Any, wanted: bool | int | str) -> bool:
    """Whether a column holds what the restriction wrote (``now``: any time)."""
    return current is not None and (wanted == NOW or current == wanted)


@dataclass
class LiftPlan:
    region: str
    changes: list[FlagChange] = field(default_factory=list)
    # Rows another restriction in force still needs, and rows that carry no flag any more.
    kept: Counter[str] = field(default_factory=Counter)
    already_clear: Counter[str] = field(default_factory=Counter)

    def counts(self) -> dict[str, dict[str, int]]:
        """table -> {"cleared", "kept", "already_clear"}: rows, never values."""
        cleared = Counter(c.table for c in self.changes)
        tables = set(cleared) | set(self.kept) | set(self.already_clear)
        return {
            t: {"cleared": cleared[t], "kept": self.kept[t], "already_clear": self.already_clear[t]}
            for t in sorted(tables)
        }

    @property
    def rows_changed(self) -> int:
        return len(self.changes)

    @property
    def cleared_rows(self) -> list[RowKey]:
        return sorted((c.table, c.pk) for c in self.changes)


class CrmUnrestrictor:
    """Plans and applies a lift over one regional database."""

    def __init__(self, connector: CrmSqlConnector) -> None:
        self.connector = connector

    def covered(self, findings: Findings) -> set[RowKey]:
        """The found rows a restriction flags: those of tables with a ``restriction`` action."""
        tables = self.connector.datamap.tables
        return {(r.ref.table, r.ref.pk) for r in findings.rows if tables[r.ref.table].restriction}

    def plan(
        self,
        rows: Iterable[RowKey],
        keep: Collection[RowKey] = (),
        keep_tables: Collection[str] = (),
    ) -> LiftPlan:
        """``keep_tables``: tables where some row of the person may be another restriction's
        without saying which (one fulfilled before restrictions kept identities)."""
        plan = LiftPlan(self.connector.region)
        by_table: dict[str, set[str]] = {}
        for table, pk in rows:
            by_table.setdefault(table, set()).add(pk)
        for table, pks in sorted(by_table.items()):
            flags = self.connector.datamap.tables[table].restriction
            if flags is None:
                continue
            for pk, row in self._read(table, pks):
                held = [col for col, value in flags.set.items() if carries(row[col], value)]
                if not held:
                    plan.already_clear[table] += 1
                elif (table, pk) in keep or table in keep_tables:
                    plan.kept[table] += 1
                else:
                    values = {col: cleared_value(flags.set[col]) for col in held}
                    plan.changes.append(FlagChange(table, pk, values))
        return plan

    def apply(self, plan: LiftPlan) -> int:
        """Every change of this database in one transaction; any failure changes nothing."""
        return CrmFlagger(self.connector).apply(
            FlagPlan(plan.region, "restriction", changes=plan.changes)
        )

    def _read(self, table: str, pks: set[str]) -> list[tuple[str, dict[str, Any]]]:
        """The rows that still exist, by primary key, in key order."""
        tmap = self.connector.datamap.tables[table]
        t = self.connector.table(table)
        ordered = sorted(pks, key=pk_order)
        found: list[tuple[str, dict[str, Any]]] = []
        size = self.connector.chunk_size
        with self.connector.engine.connect() as conn:
            for start in range(0, len(ordered), size):
                query = select(t).where(key_clause(t, tmap, ordered[start : start + size]))
                for row in conn.execute(query.order_by(*key_columns(t, tmap))).mappings():
                    found.append((row_key(tmap, row), dict(row)))
        return found
