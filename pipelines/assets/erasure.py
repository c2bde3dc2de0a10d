"""Erasure assets: each region erased and re-searched, then one signed deletion proof."""

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
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
from connectors.tombstones import Tombstones
from dsr.erasure_attempts import RegionAttempts, plan_changes
from dsr.faults import crash_point
from dsr.ledger import State
from dsr.proof import build_proof, issue_proof
from pipelines.assets.discovery import ResolvedSubject
from pipelines.assets.services import ServiceOutcome
from pipelines.erasure_cleanup import finish_cleanup
from pipelines.partitions import request_partitions
from pipelines.proof_sections import crm_section, proof_request, service_sections
from pipelines.request_lease import hold_request, release_request
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
        backups: BackupsResource,
        subject: ResolvedSubject,
    ) -> Iterator[Output[ErasureResult] | AssetCheckResult]:
        led = ledger.ledger()
        request_id = subject.request_id
        identities = set(subject.identities)
        hold_request(context, led, request_id)
        with (
            failing_request(context, led, request_id, f"crm:{region} erasure"),
            ExitStack() as stack,
        ):
            connector = crm.connector(region)
            eraser = CrmEraser(
                connector,
                hasher=ledger.key_ring().keyed_hash,
                physical=crm.physical_cleanup,  # type: ignore[arg-type]
            )
            findings = subject.find_in(connector)
            plan = eraser.plan(findings)
            attempts = RegionAttempts(led, request_id, region)
            settled = attempts.settle(plan)
            stones = backups.tombstones()
            stack.callback(stones.close)
            if plan_changes(plan):
                # Before the commit: a restore re-applies this erasure even if everything after
                # the commit fails (widened to after the commit below).
                _tombstone(stones, subject, identities)
                attempts.planned(context.run.run_id, plan)
                crash_point(f"planned:{region}")
                applied = eraser.apply([plan], {request_id: identities | findings.identities})
                crash_point(f"committed:{region}")
                attempts.committed(context.run.run_id, applied[request_id])
            totals = attempts.totals()
            if totals:
                _tombstone(stones, subject, identities)
            # Every attempt's tables: one that died after its commit never cleaned up.
            touched = sorted(t for t, by in totals.items() if any(by.values()))
            eraser.physical_cleanup(touched)
            verification = eraser.verify(
                identities, scope=subject.scope, client_id=subject.client_id
            )
            result = ErasureResult(
                region,
                request_id,
                plan.counts(),
                applied=totals,
                verification=verification,
                plan=plan,
                physically_cleaned=touched if crm.physical_cleanup != "none" else [],
            )
            if not verification.ok:
                led.transition(
                    request_id,
                    State.FAILED,
                    reason=f"crm:{region}: {len(verification.unexpected)} rows still hold the "
                    "person after erasure",
                )
        context.log.info(
            f"crm:{region}: "
            + ", ".join(f"{t} {a}={n}" for t, acts in totals.items() for a, n in acts.items())
            + f" over {attempts.attempts()} attempt(s)"
            + (f" ({len(settled)} settled after a crash)" if settled else "")
            + f"; verification {'ok' if verification.ok else 'FAILED'}"
        )
        yield Output(
            result,
            metadata={
                "region": region,
                "applied": totals,
                "planned": result.plan_counts,
                "attempts": attempts.attempts(),
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
        hold_request(context, led, request_id)
        with failing_request(context, led, request_id, "deletion proof"):
            crm_results = [r for r in results.values() if isinstance(r, ErasureResult)]
            identities = led.identities(request_id)
            holding = backups.store().holding(identities)
            sections = [crm_section(r) for r in crm_results]
            for outcome in results.values():
                if isinstance(outcome, ServiceOutcome):
                    sections += service_sections(outcome, led, request_id)

            def body() -> dict:
                return build_proof(
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
                        # Rows kept (as the dry run and the proof's "kept" list count them),
                        # not only those whose columns were emptied.
                        | {"kept": sum(k["rows"] for k in s.kept)}
                        for s in sections
                    },
                    "pending_with_processor": sum(len(s.pending) for s in sections),
                },
            )
            crash_point("fulfilled")
        purged = finish_cleanup(context.instance, led, staging, led.get(request_id))
        release_request(led, request_id, context.run.run_id)
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


def _tombstone(stones: Tombstones, subject: ResolvedSubject, identities: set) -> None:
    """Record (or widen to now) the keyed hashes a restore re-applies this erasure by."""
    stones.record(
        subject.request_id, identities, subject.scope, subject.client_id, datetime.now(UTC)
    )
