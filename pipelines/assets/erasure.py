"""Erasure assets: each region erased and re-searched, then one signed deletion proof."""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from connectors.crm_erase import CrmEraser, ErasureResult
from dsr.ledger import State
from dsr.proof import build_proof, issue_proof
from pipelines.assets.discovery import ResolvedSubject
from pipelines.assets.services import ServiceOutcome
from pipelines.erasure_cleanup import purge_subject_traces
from pipelines.partitions import request_partitions
from pipelines.proof_sections import crm_section, proof_request, service_sections
from pipelines.request_state import failing_request
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource
from resources.proofs import ProofStoreResource
from resources.staging import StagingArea

GROUP = "erasure"
VERIFIED_CHECK = "nothing_left_that_should_not_be"


def crm_erasure_asset(region: str) -> AssetsDefinition:
    name = f"crm_{region}_erasure"

    @asset(
        name=name,
        partitions_def=request_partitions,
        group_name=GROUP,
        ins={"subject": AssetIn("subject_identities")},
        kinds={"sql"},
        check_specs=[
            AssetCheckSpec(
                VERIFIED_CHECK,
                asset=name,
                blocking=True,
                description="A fresh search with every resolved identity finds only rows kept "
                "with a legal basis or already anonymised.",
            )
        ],
        description=f"Erase the person from the {region} CRM (one transaction), re-search, and "
        "make deleted values physically unrecoverable.",
    )
    def _erase(
        context: AssetExecutionContext,
        crm: CrmDatabasesResource,
        ledger: LedgerResource,
        subject: ResolvedSubject,
    ) -> Iterator[Output[ErasureResult] | AssetCheckResult]:
        led = ledger.ledger()
        identities = set(subject.identities)
        with failing_request(context, led, subject.request_id, f"crm:{region} erasure"):
            connector = crm.connector(region)
            findings = connector.find(
                {subject.request_id: identities}, scope=subject.scope, client_id=subject.client_id
            )[subject.request_id]
            eraser = CrmEraser(
                connector,
                hasher=ledger.key_ring().keyed_hash,
                physical=crm.physical_cleanup,  # type: ignore[arg-type]
            )
            result = eraser.erase(
                findings, identities, scope=subject.scope, client_id=subject.client_id
            )
            verification = result.verification
            if not verification.ok:
                led.transition(
                    subject.request_id,
                    State.FAILED,
                    reason=f"crm:{region}: {len(verification.unexpected)} rows still hold the "
                    "person after erasure",
                )
        context.log.info(
            f"crm:{region}: "
            + ", ".join(
                f"{t} {a}={n}" for t, acts in result.applied.items() for a, n in acts.items()
            )
            + f"; verification {'ok' if verification.ok else 'FAILED'}"
        )
        yield Output(
            result,
            metadata={
                "region": region,
                "applied": result.applied,
                "planned": result.plan_counts,
                "verified": verification.ok,
                "remaining_kept": len(verification.remaining),
            },
        )
        yield AssetCheckResult(
            check_name=VERIFIED_CHECK,
            passed=verification.ok,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "identities_searched": verification.identities_searched,
                "remaining_with_reason": len(verification.remaining),
                "unexpected": len(verification.unexpected),
                "unexpected_tables": sorted({r.table for r in verification.unexpected}),
            },
        )

    return _erase


def deletion_proof_asset(regions: Sequence[str], services: Sequence[str]) -> AssetsDefinition:
    @asset(
        name="deletion_proof",
        partitions_def=request_partitions,
        group_name=GROUP,
        ins={
            **{f"crm_{region}_erasure": AssetIn() for region in regions},
            **{f"{service}_erasure": AssetIn() for service in services},
        },
        kinds={"json"},
        description="The signed, hash-chained deletion proof; then every trace the system kept "
        "of the person (earlier bundles, intake runs, stored identities) is removed.",
    )
    def deletion_proof(
        context: AssetExecutionContext,
        ledger: LedgerResource,
        proofs: ProofStoreResource,
        staging: StagingArea,
        backups: BackupsResource,
        **results: ErasureResult | ServiceOutcome,
    ) -> MaterializeResult:
        request_id = context.partition_key
        led = ledger.ledger()
        record = led.get(request_id)
        with failing_request(context, led, request_id, "deletion proof"):
            crm_results = [r for r in results.values() if isinstance(r, ErasureResult)]
            identities = led.identities(request_id)
            # Restores re-apply this erasure from its tombstone; backups still holding the
            # person are named in the proof with the date they expire.
            backups.tombstones().record(
                request_id, identities, str(record.scope), record.client_id, datetime.now(UTC)
            )
            holding = backups.store().holding(identities)
            sections = [crm_section(r) for r in crm_results]
            for outcome in results.values():
                if isinstance(outcome, ServiceOutcome):
                    sections += service_sections(outcome)
            body = build_proof(
                proof_request(record),
                identities,
                sections,
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
            issued = issue_proof(body, ledger.key_ring(), led, proofs.folder())
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
                        # Rows kept (as the dry run and the proof's "kept" list count them),
                        # not only those whose columns were emptied.
                        | {"kept": sum(k["rows"] for k in s.kept)}
                        for s in sections
                    },
                },
            )
        purged = purge_subject_traces(context.instance, led, record)
        staging.clear(request_id)
        context.log.info(f"request {request_id}: proof issued; traces removed: {purged}")
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(issued.path)),
                "sha256": issued.sha256,
                "audit_seq": issued.audit_seq,
                "traces_removed": purged,
            }
        )

    return deletion_proof
