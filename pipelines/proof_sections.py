"""Turning a region's erasure result into its section of the deletion proof."""

import hashlib

from dsr.erasure.attempts import service_totals
from dsr.erasure.crm import ErasureResult
from dsr.ledger import Ledger, RequestRecord
from dsr.proof import ProofRequest, SystemSection
from dsr.proof.crm_section import crm_proof_section
from pipelines.assets.services import ServiceOutcome


def proof_request(record: RequestRecord) -> ProofRequest:
    """The request part of a proof, completed now."""
    return ProofRequest.of(record)


def crm_section(result: ErasureResult) -> SystemSection:
    """``result.applied`` holds what every attempt of the request changed in the region."""
    return crm_proof_section(result.region, result.applied, result.plan, result.verification)


def service_sections(
    outcome: ServiceOutcome, ledger: Ledger, request_id: str
) -> list[SystemSection]:
    """One section per region of the service's accounts; "not_connected" when there were none.

    The counts are what every attempt deleted (``service_erased`` entries), not only this one's.
    """
    every_attempt = service_totals(ledger, request_id, outcome.system)
    if not outcome.accounts:
        return [
            SystemSection(
                system=outcome.system,
                region="none",
                status="not_connected",
                counts={},
                kept=[],
                verification={
                    "ok": True,
                    "searched_identities": 0,
                    "remaining": [],
                    "unexpected": 0,
                },
            )
        ]
    sections = []
    for region in outcome.regions:
        erasures = [
            e for e, r in zip(outcome.erasures, outcome.account_regions, strict=True) if r == region
        ]
        verifications = [
            v
            for v, r in zip(outcome.verifications, outcome.account_regions, strict=True)
            if r == region
        ]
        counts = every_attempt.get(region, {})
        pending = [
            {
                "what": p.what,
                "with": f"{outcome.system} (processor)",
                "status": "requested_from_processor",
                "requested_at": p.requested_at,
                "request_sha256": hashlib.sha256(p.request_text.encode()).hexdigest(),
            }
            for e in erasures
            for p in e.pending
        ]
        remaining = [
            {"table": kind, "rows": n, "reason": "still found after erasure"}
            for v in verifications
            for kind, n in sorted(v.remaining.items())
            if n and not v.ok
        ]
        status = "pending" if pending else ("erased" if counts else "nothing_found")
        sections.append(
            SystemSection(
                system=outcome.system,
                region=region,
                status=status,
                counts=counts,
                kept=[],
                verification={
                    "ok": all(v.ok for v in verifications),
                    "searched_identities": outcome.identities_searched,
                    "remaining": remaining,
                    "unexpected": sum(r["rows"] for r in remaining),
                },
                pending=pending,
            )
        )
    return sections
