"""Opt-out and restriction: set the flags the data map names on the person's own rows.

Per table the data map says what each action sets — ``suppression`` for a marketing opt-out
(policy 5.3), ``restriction`` for Art. 18 — so no table or column name is in code. Only rows
discovery attributed to the person, in the request's scope, change; each database in one
transaction. A value already in place is left alone (``now`` is written once), so running the
same request again changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import update

from connectors.base import Findings
from connectors.crm.datamap import FlagAction, TableMap
from connectors.crm.sql import CrmSqlConnector
from connectors.crm.sql_helpers import key_clause

Action = Literal["suppression", "restriction"]
ACTIONS: tuple[Action, ...] = ("suppression", "restriction")
# In a data map: the time the request is fulfilled (an unsubscribe time, say).
NOW = "now"


def action_of(table: TableMap, action: Action) -> FlagAction | None:
    if action not in ACTIONS:
        raise ValueError(f"unknown flag action {action!r}; expected one of {', '.join(ACTIONS)}")
    return getattr(table, action)


def is_flagged(flags: FlagAction | None, row: Mapping[str, Any]) -> bool:
    """Whether a row already carries the action (every column at its value; ``now``: set)."""
    if flags is None:
        return False
    return all(_in_place(row.get(col), value) for col, value in flags.set.items())


def _in_place(current: Any, wanted: bool | int | str) -> bool:
    if wanted == NOW:
        return current is not None
    return current is not None and current == wanted


@dataclass(frozen=True)
class FlagChange:
    table: str
    pk: str
    values: dict[str, Any]


@dataclass
class FlagPlan:
    region: str
    action: Action
    changes: list[FlagChange] = field(default_factory=list)
    already: Counter[str] = field(default_factory=Counter)

    def counts(self) -> dict[str, dict[str, int]]:
        """table -> {"set": rows changed, "already": rows that carried it before}."""
        changed = Counter(c.table for c in self.changes)
        return {
            table: {"set": changed[table], "already": self.already[table]}
            for table in sorted(set(changed) | set(self.already))
        }

    @property
    def rows_changed(self) -> int:
        return len(self.changes)


class CrmFlagger:
    """Plans and applies one action over one regional database."""

    def __init__(self, connector: CrmSqlConnector) -> None:
        self.connector = connector

    def plan(self, findings: Findings, action: Action, *, at: datetime) -> FlagPlan:
        dm = self.connector.datamap
        plan = FlagPlan(findings.region, action)
        for row in findings.rows:
            flags = action_of(dm.tables[row.ref.table], action)
            if flags is None:
                continue
            values = {
                col: self._value(row.ref.table, col, value, at)
                for col, value in flags.set.items()
                if not _in_place(row.data.get(col), value)
            }
            if values:
                plan.changes.append(FlagChange(row.ref.table, row.ref.pk, values))
            else:
                plan.already[row.ref.table] += 1
        return plan

    def _value(self, table: str, column: str, value: bool | int | str, at: datetime) -> Any:
        if value != NOW:
            return value
        col_type = self.connector.table(table).c[column].type
        at = at.astimezone(UTC)
        # The CRM keeps naive UTC timestamps unless the column says it stores a zone.
        return at if getattr(col_type, "timezone", False) else at.replace(tzinfo=None)

    def apply(self, plan: FlagPlan) -> int:
        """Every change of this database in one transaction; any failure changes nothing."""
        if plan.region != self.connector.region:
            raise ValueError(
                f"a plan for region {plan.region!r} cannot be applied to {self.connector.region!r}"
            )
        dm = self.connector.datamap
        changed = 0
        with self.connector.engine.begin() as conn:
            for change in plan.changes:
                table = self.connector.table(change.table)
                where = key_clause(table, dm.tables[change.table], [change.pk])
                result = conn.execute(update(table).where(where).values(change.values))
                changed += result.rowcount or 0
        return changed
