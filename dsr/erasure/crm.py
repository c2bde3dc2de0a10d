"""Erasure on a data-mapped SQL database: plan → apply (one transaction) → clean up → verify.

What happens to each row is the data map's decision, never this module's:

* the subject's own rows (``Findings.rows``) of a ``delete`` table are deleted by primary key,
  rows that point at others first, so foreign keys never block;
* rows of an ``anonymise`` or ``keep`` table stay; each personal column gets its ``erase`` action
  (``null``, ``hash`` — the caller's keyed HMAC of the normalised value, stable so joins on it
  still work —, ``placeholder``, ``keep``) and their free text is redacted;
* other people's rows that mention the subject (``Findings.mentions``) keep every byte except the
  mentioned spans, which become the redaction string. The spans are found again inside the
  transaction, on the text as it is then.

All plans given to ``apply`` — every subject of a batch — commit together or not at all; a
failure raises ``ErasureFailed`` and the database is as before. Running an erasure again is safe:
deleted rows are not found, emptied rows are not changed again, and ``applied`` says so.

Nothing here logs, and no exception message carries an identity or a row value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors.base import Findings, Identity
from connectors.crm.datamap_checks import check_erasure_complete
from connectors.crm.sql import CrmSqlConnector
from dsr.erasure.apply import ErasureFailed, StepHook, apply_plans
from dsr.erasure.plan import (
    ColumnRules,
    ErasurePlan,
    Hasher,
    Replacements,
    TablePlan,
    build_plan,
)
from dsr.erasure.verify import (
    Physical,
    PhysicalCleanupError,
    Remaining,
    Verification,
    physical_cleanup,
    verify,
)


@dataclass
class ErasureResult:
    region: str
    subject: str
    plan_counts: dict[str, dict[str, int]]
    # table -> action -> rows changed; empty for a dry run.
    applied: dict[str, dict[str, int]]
    # A dry run verifies nothing: ok is False and the lists are empty.
    verification: Verification
    plan: ErasurePlan
    dry_run: bool = False
    physically_cleaned: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(n for by_action in self.applied.values() for n in by_action.values())


class CrmEraser:
    """Erases subjects from one regional database described by the connector's data map."""

    def __init__(
        self,
        connector: CrmSqlConnector,
        *,
        hasher: Hasher,
        placeholder: str = "[erased]",
        redaction: str = "[redacted]",
        physical: Physical = "vacuum_full",
        step_hook: StepHook | None = None,
    ) -> None:
        if physical not in ("vacuum_full", "vacuum", "none"):
            raise ValueError(f"physical must be vacuum_full, vacuum or none, not {physical!r}")
        self.connector = connector
        self.datamap = connector.datamap
        self.physical: Physical = physical
        self.step_hook = step_hook
        self.repl = Replacements(
            hasher, placeholder, redaction, connector.default_phone_region, connector.countries
        )
        self._rules: dict[str, ColumnRules] = {}
        self._checked = False

    @property
    def region(self) -> str:
        return self.connector.region

    def rules(self, table: str) -> ColumnRules:
        if table not in self._rules:
            self._rules[table] = ColumnRules(
                table,
                self.datamap.tables[table],
                self.connector.table(table),
                self.repl,
                self.datamap.source_path,
            )
        return self._rules[table]

    def check(self) -> None:
        """Refuse a data map erasure cannot follow, before any plan or change (DataMapError)."""
        if self._checked:
            return
        check_erasure_complete(self.datamap)
        for name, tmap in self.datamap.tables.items():
            if tmap.erasure and tmap.erasure.action != "delete":
                self.rules(name)  # checks each action against the live column
        self._checked = True

    # -- the verbs ----------------------------------------------------------------------------

    def plan(self, findings: Findings) -> ErasurePlan:
        if findings.region != self.region:
            raise ValueError(f"findings of region {findings.region!r} given to {self.region!r}")
        self.check()
        return build_plan(findings, self.datamap, self.rules, date.today())

    def plan_many(self, findings: Mapping[str, Findings]) -> dict[str, ErasurePlan]:
        return {key: self.plan(f) for key, f in findings.items()}

    def apply(
        self, plans: Sequence[ErasurePlan], identities: Mapping[str, set[Identity]]
    ) -> dict[str, dict[str, dict[str, int]]]:
        """Every plan in ONE transaction; subject -> table -> action -> rows changed."""
        self.check()
        return apply_plans(self.connector, self.rules, plans, identities, self.step_hook)

    def verify(
        self, identities: set[Identity], *, scope: str, client_id: str | None
    ) -> Verification:
        return verify(
            self.connector,
            self.rules,
            identities,
            scope=scope,
            client_id=client_id,
            today=date.today(),
        )

    def physical_cleanup(self, tables: Collection[str]) -> None:
        try:
            physical_cleanup(self.connector.engine, self.region, tables, self.physical)
        except PhysicalCleanupError:
            raise
        except Exception as exc:
            raise PhysicalCleanupError(self.region, tables, type(exc).__name__) from None

    def erase(
        self,
        findings: Findings,
        identities: set[Identity],
        *,
        scope: str,
        client_id: str | None,
        dry_run: bool = False,
    ) -> ErasureResult:
        plan = self.plan(findings)
        every = set(identities) | findings.identities
        result = ErasureResult(
            self.region,
            findings.subject,
            plan.counts(),
            applied={},
            verification=Verification(ok=False),
            plan=plan,
            dry_run=dry_run,
        )
        if dry_run:
            return result
        result.applied = self.apply([plan], {findings.subject: every})[findings.subject]
        touched = sorted(t for t, by in result.applied.items() if any(by.values()))
        self.physical_cleanup(touched)
        result.physically_cleaned = touched if self.physical != "none" else []
        result.verification = self.verify(every, scope=scope, client_id=client_id)
        return result


def describe_plan(plan: ErasurePlan) -> list[dict[str, Any]]:
    """The plan as plain rows (no values): what a dry run shows and a proof records."""
    return [
        {
            "region": tp.region,
            "table": tp.table,
            "action": tp.action,
            "rows": len(tp.pks),
            "changes": tp.changes,
            "columns": dict(tp.columns),
            "legal_basis": tp.legal_basis,
            "retain_for": tp.retain_for,
            "until": tp.until,
        }
        for tp in plan.tables
    ]


__all__ = [
    "CrmEraser",
    "ErasureFailed",
    "ErasurePlan",
    "ErasureResult",
    "PhysicalCleanupError",
    "Remaining",
    "StepHook",
    "TablePlan",
    "Verification",
    "describe_plan",
]
