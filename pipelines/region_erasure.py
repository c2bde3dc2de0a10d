"""Erase any number of requests' subjects from one regional CRM: the step the per-request
``crm_<region>_erasure`` asset and the erasure batch run share.

For all of them at once: one discovery pass per scope, each plan settled against earlier
attempts (``dsr.erasure.attempts``), tombstones before the commit, one transaction for every plan
(if it fails, each plan in a transaction of its own, so one request's bad row fails that request
only), the commit audited per request, physical cleanup of every table any attempt touched, and
one re-search for the verification.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from connectors.base import Findings, Identity
from connectors.crm.sql import CrmSqlConnector
from dsr.erasure.attempts import RegionAttempts, plan_changes
from dsr.erasure.crm import CrmEraser, ErasureFailed, ErasureResult
from dsr.erasure.plan import ErasurePlan
from dsr.erasure.tombstones import Tombstones
from dsr.erasure.verify import classify
from dsr.faults import crash_point
from dsr.ledger import Ledger


@dataclass(frozen=True)
class ErasureSubject:
    request_id: str
    scope: str
    client_id: str | None
    identities: frozenset[Identity]


def _find(connector: CrmSqlConnector, subjects: Sequence[ErasureSubject]) -> dict[str, Findings]:
    groups: dict[tuple[str, str | None], list[ErasureSubject]] = defaultdict(list)
    for s in subjects:
        groups[(s.scope, s.client_id)].append(s)
    found: dict[str, Findings] = {}
    for (scope, client_id), group in groups.items():
        wanted = {s.request_id: set(s.identities) for s in group}
        found |= connector.find(wanted, scope=scope, client_id=client_id)
    return found


def _tombstone(stones: Tombstones, s: ErasureSubject) -> None:
    stones.record(s.request_id, set(s.identities), s.scope, s.client_id, datetime.now(UTC))


def _apply(
    eraser: CrmEraser,
    plans: dict[str, ErasurePlan],
    identities: dict[str, set[Identity]],
) -> tuple[dict[str, dict[str, dict[str, int]]], dict[str, ErasureFailed]]:
    """Every plan in one transaction; if that fails, each in its own (a bad one fails alone)."""
    try:
        return eraser.apply(list(plans.values()), identities), {}
    except ErasureFailed as exc:
        if len(plans) == 1:
            return {}, {next(iter(plans)): exc}
    applied, failed = {}, {}
    for rid, plan in plans.items():
        try:
            applied |= eraser.apply([plan], {rid: identities[rid]})
        except ErasureFailed as exc:
            failed[rid] = exc
    return applied, failed


def erase_region(
    eraser: CrmEraser,
    subjects: Sequence[ErasureSubject],
    *,
    led: Ledger,
    stones: Tombstones,
    attempt: str,
) -> tuple[dict[str, ErasureResult], dict[str, ErasureFailed]]:
    """request id -> its result in this region; and the requests whose transaction failed."""
    connector = eraser.connector
    region = connector.region
    found = _find(connector, subjects)
    plans = {s.request_id: eraser.plan(found[s.request_id]) for s in subjects}
    attempts = {s.request_id: RegionAttempts(led, s.request_id, region) for s in subjects}
    for rid, plan in plans.items():
        attempts[rid].settle(plan)
    changing = [s for s in subjects if plan_changes(plans[s.request_id])]
    for s in changing:
        # Before the commit: a restore re-applies the erasure even if everything after fails.
        _tombstone(stones, s)
        attempts[s.request_id].planned(attempt, plans[s.request_id])
    crash_point(f"planned:{region}")
    failed: dict[str, ErasureFailed] = {}
    if changing:
        identities = {
            s.request_id: set(s.identities) | found[s.request_id].identities for s in changing
        }
        applied, failed = _apply(
            eraser, {s.request_id: plans[s.request_id] for s in changing}, identities
        )
        crash_point(f"committed:{region}")
        for rid, counts in applied.items():
            attempts[rid].committed(attempt, counts)
    totals = {rid: attempts[rid].totals() for rid in plans if rid not in failed}
    for s in subjects:
        if totals.get(s.request_id):
            _tombstone(stones, s)  # widened to after the commit
    # Every attempt's tables: one that died after its commit never cleaned up.
    touched = sorted(
        {t for by_table in totals.values() for t, by in by_table.items() if any(by.values())}
    )
    eraser.physical_cleanup(touched)
    again = _find(connector, [s for s in subjects if s.request_id not in failed])
    today = date.today()
    results = {}
    for rid, total in totals.items():
        verification = classify(again[rid], connector.datamap, eraser.rules, today)
        results[rid] = ErasureResult(
            region,
            rid,
            plans[rid].counts(),
            applied=total,
            verification=verification,
            plan=plans[rid],
            physically_cleaned=touched if eraser.physical != "none" else [],
        )
    return results, failed
