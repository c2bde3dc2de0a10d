"""One request's deletion proof from what every region and service erased, and its closing
record: shared by the per-request ``deletion_proof`` asset and the erasure batch run."""

from __future__ import annotations

from collections.abc import Sequence

from dsr.erasure.crm import ErasureResult
from dsr.faults import crash_point
from dsr.ledger import Ledger, RequestRecord, State
from dsr.proof import IssuedProof, build_proof, issue_proof
from dsr.proof.subjects_ahead import SubjectsAhead
from pipelines.assets.services import ServiceOutcome
from pipelines.proof_sections import crm_section, proof_request, service_sections
from resources.backups import BackupsResource
from resources.ledger import LedgerResource
from resources.proofs import ProofStoreResource


def issue_deletion_proof(
    record: RequestRecord,
    results: Sequence[ErasureResult | ServiceOutcome],
    *,
    led: Ledger,
    ledger: LedgerResource,
    proofs: ProofStoreResource,
    backups: BackupsResource,
    subjects: SubjectsAhead | None = None,
) -> IssuedProof:
    """Issue the request's one proof (``issue_proof``) and mark it fulfilled; ``subjects`` has
    the proof's subject hashed ahead (a batch run), or it is hashed here."""
    request_id = record.request_id
    crm_results = [r for r in results if isinstance(r, ErasureResult)]
    identities = led.identities(request_id)
    holding = backups.store().holding(identities)
    sections = [crm_section(r) for r in crm_results]
    for outcome in results:
        if isinstance(outcome, ServiceOutcome):
            sections += service_sections(outcome, led, request_id)

    def body() -> dict:
        return build_proof(
            proof_request(record),
            identities,
            sections,
            hashed_subject=subjects.section(request_id, identities) if subjects else None,
            pending=[
                {
                    "system": "backups",
                    "what": f"snapshot {b.backup_id} of the {b.region} CRM",
                    "status": "expires",
                    "expires_at": b.expires_at.isoformat(),
                }
                for b in holding
            ],
        )

    issued = issue_proof(body, ledger.key_ring(), led, proofs.folder(), request_id)
    led.transition(
        request_id,
        State.FULFILLED,
        result={
            "proof": str(issued.path),
            "proof_sha256": issued.sha256,
            "audit_seq": issued.audit_seq,
            "backups_holding": [b.backup_id for b in holding],
            "rows_per_system": {
                f"crm:{r.region}": sum(sum(a.values()) for a in r.applied.values())
                for r in crm_results
            },
            "actions_per_system": {
                f"{s.system}:{s.region}": {
                    action: sum(c.get(action, 0) for c in s.counts.values())
                    for action in ("deleted", "anonymised", "redacted")
                }
                # Rows kept (as the dry run and the proof's "kept" list count them), not only
                # those whose columns were emptied.
                | {"kept": sum(k["rows"] for k in s.kept)}
                for s in sections
            },
            "pending_with_processor": sum(len(s.pending) for s in sections),
        },
    )
    crash_point("fulfilled")
    return issued
