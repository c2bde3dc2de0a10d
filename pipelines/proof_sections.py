"""Turning a region's erasure result into its section of the deletion proof."""

from connectors.crm_erase import ErasureResult
from connectors.datamap import DataMap
from dsr.proof import SystemSection

PAST = {"delete": "deleted", "anonymise": "anonymised", "redact": "redacted", "keep": "kept"}


def crm_section(result: ErasureResult, datamap: DataMap) -> SystemSection:
    counts = {
        table: {PAST.get(action, action): n for action, n in actions.items() if n}
        for table, actions in result.applied.items()
    }
    counts = {table: actions for table, actions in counts.items() if actions}
    kept = [
        {
            "table": plan.table,
            "rows": len(plan.pks),
            "legal_basis": plan.legal_basis,
            "until": plan.until,
        }
        for plan in result.plan.tables
        if plan.action == "keep" and plan.pks
    ]
    verification = result.verification
    remaining: dict[str, dict[str, object]] = {}
    for item in verification.remaining:
        entry = remaining.setdefault(
            item.table, {"table": item.table, "rows": 0, "reason": item.reason}
        )
        entry["rows"] = int(entry["rows"]) + 1  # type: ignore[call-overload]
    return SystemSection(
        system="crm",
        region=result.region,
        status="erased" if counts else "nothing_found",
        counts=counts,
        kept=kept,
        verification={
            "ok": verification.ok,
            "searched_identities": verification.identities_searched,
            "remaining": list(remaining.values()),
            "unexpected": len(verification.unexpected),
        },
    )
