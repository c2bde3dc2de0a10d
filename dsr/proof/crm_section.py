"""A CRM region's section of a deletion proof, from what the erasure applied and re-found.

Shared by a person's erasure (``pipelines.proof_sections``) and a closed account's purge
(``dsr.retention.tenants``), so both proofs say "deleted / kept until / remaining" alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from dsr.erasure.plan import ErasurePlan
from dsr.erasure.verify import Verification
from dsr.proof.document import SystemSection

PAST = {"delete": "deleted", "anonymise": "anonymised", "redact": "redacted", "keep": "kept"}


def crm_proof_section(
    region: str,
    applied: Mapping[str, Mapping[str, int]],
    plan: ErasurePlan,
    verification: Verification,
) -> SystemSection:
    """``applied``: table → action → rows changed; tables and actions with no rows are left out."""
    counts = {
        table: {PAST.get(action, action): n for action, n in actions.items() if n}
        for table, actions in applied.items()
    }
    # Kept means kept: every row the plan keeps, also those with nothing left to empty (the
    # kept list below counts them so, and the proof must not say two numbers).
    for tp in plan.tables:
        if tp.action == "keep" and tp.pks:
            counts.setdefault(tp.table, {})["kept"] = len(tp.pks)
    counts = {table: actions for table, actions in counts.items() if actions}
    kept = [
        {"table": tp.table, "rows": len(tp.pks), "legal_basis": tp.legal_basis, "until": tp.until}
        for tp in plan.tables
        if tp.action == "keep" and tp.pks
    ]
    by_table: dict[str, list[str]] = defaultdict(list)
    for item in verification.remaining:
        by_table[item.table].append(item.reason)
    remaining = [
        # The reason with the latest "until" speaks for the table: ISO dates sort as text.
        {"table": table, "rows": len(reasons), "reason": max(reasons)}
        for table, reasons in sorted(by_table.items())
    ]
    return SystemSection(
        system="crm",
        region=region,
        status="erased" if counts else "nothing_found",
        counts=counts,
        kept=kept,
        verification={
            "ok": verification.ok,
            "searched_identities": verification.identities_searched,
            "remaining": remaining,
            "unexpected": len(verification.unexpected),
        },
    )
