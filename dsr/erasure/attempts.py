"""Every attempt at an erasure, recorded so that one proof counts what all of them changed.

An erasure may take several attempts: a service answers 429 and the run fails after the CRM
committed, the process is killed, a database goes away. Each attempt works from the request's
recorded identities (``dsr.ledger.work``) and re-plans from what is still there, so a later
attempt finds less; the proof must still count what the first attempt deleted. So the audit log
records, per region and attempt (the Dagster run id):

* ``erasure_planned`` — the changes an attempt is about to commit (counts), written before its
  transaction, with the row keys themselves in the encrypted work record;
* ``erasure_committed`` — what the transaction changed, written after it committed;
* ``erasure_rolled_back`` — an attempt that planned but did not commit.

An attempt that died between its plan and its outcome is settled by the next one: the region's
transaction is all or nothing, so if none of the rows it planned to change still needs the change,
it committed (its planned counts are what it changed); if they all do, it rolled back.
``service_erased`` records each connected account's deletions as soon as they are done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsr.erasure.plan import ErasurePlan
from dsr.ledger import AuditEntry, Ledger
from dsr.ledger.work import plan_name

PLANNED, COMMITTED, ROLLED_BACK = "erasure_planned", "erasure_committed", "erasure_rolled_back"
SERVICE_ERASED = "service_erased"
Counts = dict[str, dict[str, int]]


def plan_changes(plan: ErasurePlan) -> set[tuple[str, str, str]]:
    """(table, action, row key) of every row the plan changes."""
    out = set()
    for tp in plan.tables:
        unchanged = set(tp.unchanged)
        out |= {(tp.table, tp.action, pk) for pk in tp.pks if pk not in unchanged}
    return out


def add_counts(total: Counts, more: Mapping[str, Mapping[str, int]]) -> Counts:
    for table, actions in more.items():
        for action, n in actions.items():
            total.setdefault(table, {})[action] = total.get(table, {}).get(action, 0) + int(n)
    return total


class RegionAttempts:
    """One region's attempts at one request's erasure, as the audit log records them."""

    def __init__(self, ledger: Ledger, request_id: str, region: str) -> None:
        self.ledger, self.request_id, self.region = ledger, request_id, region

    def _entries(self) -> list[AuditEntry]:
        events = (PLANNED, COMMITTED, ROLLED_BACK)
        return [
            e
            for e in self.ledger.audit_entries(self.request_id)
            if e.event in events and e.details.get("region") == self.region
        ]

    def settle(self, plan: ErasurePlan) -> list[str]:
        """Settle attempts that planned and never said how it ended; their ids, settled."""
        entries = self._entries()
        ended = {e.details["attempt_id"] for e in entries if e.event != PLANNED}
        open_ = [e for e in entries if e.event == PLANNED and e.details["attempt_id"] not in ended]
        now = plan_changes(plan)
        settled = []
        for entry in open_:
            attempt = entry.details["attempt_id"]
            recorded = self.ledger.work.get(self.request_id, plan_name(self.region, attempt))
            earlier = {tuple(c) for c in (recorded or {}).get("changes", [])}
            if earlier and earlier.isdisjoint(now):
                details = {"applied": entry.details["counts"], "settled_by_next_attempt": True}
                self._audit(COMMITTED, attempt, details)
            else:
                self._audit(ROLLED_BACK, attempt, {"settled_by_next_attempt": True})
            settled.append(attempt)
        return settled

    def planned(self, attempt: str, plan: ErasurePlan) -> None:
        changes = sorted(plan_changes(plan))
        self.ledger.work.put_once(
            self.request_id,
            plan_name(self.region, attempt),
            {"changes": [list(c) for c in changes]},
        )
        self._audit(PLANNED, attempt, {"counts": _nonzero(plan.changes())})

    def committed(self, attempt: str, applied: Counts) -> None:
        self._audit(COMMITTED, attempt, {"applied": _nonzero(applied)})

    def totals(self) -> Counts:
        """table -> action -> rows every committed attempt changed."""
        total: Counts = {}
        for e in self._entries():
            if e.event == COMMITTED:
                add_counts(total, e.details.get("applied", {}))
        return total

    def attempts(self) -> int:
        return len({e.details["attempt_id"] for e in self._entries() if e.event == COMMITTED})

    def _audit(self, event: str, attempt: str, details: dict[str, Any]) -> None:
        self.ledger.audit(
            self.request_id, event, {"region": self.region, "attempt_id": attempt, **details}
        )


def _nonzero(counts: Mapping[str, Mapping[str, int]]) -> Counts:
    return {
        table: {a: int(n) for a, n in actions.items() if n}
        for table, actions in counts.items()
        if any(actions.values())
    }


def record_service_erasure(
    ledger: Ledger, request_id: str, system: str, account: str, region: str, attempt: str,
    changes: Counts,
) -> None:  # fmt: skip
    """One account's deletions, recorded as soon as its API calls are done."""
    details = {"system": system, "account_id": account, "region": region, "attempt_id": attempt}
    ledger.audit(request_id, SERVICE_ERASED, {**details, "changes": _nonzero(changes)})


def service_totals(ledger: Ledger, request_id: str, system: str) -> dict[str, Counts]:
    """region -> kind -> action -> items every attempt deleted in the service's accounts."""
    out: dict[str, Counts] = {}
    for e in ledger.audit_entries(request_id):
        if e.event == SERVICE_ERASED and e.details.get("system") == system:
            add_counts(out.setdefault(e.details["region"], {}), e.details.get("changes", {}))
    return out
