"""Erasure assets: each region erased and re-searched, then one signed deletion proof."""

from collections.abc import Iterator, Sequence
from contextlib import ExitStack

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from dsr.erasure.attempts import RegionAttempts
from dsr.erasure.crm import CrmEraser, ErasureResult
from dsr.ledger import State
from pipelines.assets.discovery import ResolvedSubject, subject_asset_name
from pipelines.assets.services import ServiceOutcome
from pipelines.bundle_lineage import observe_deleted_bundles
from pipelines.checks import verified_check, verified_result
from pipelines.erasure_cleanup import finish_cleanup
from pipelines.partitions import partitions_for
from pipelines.proof_issue import issue_deletion_proof
from pipelines.region_erasure import ErasureSubject, erase_region
from pipelines.request_lease import hold_request, release_request
from pipelines.request_state import failing_request
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource
from resources.proofs import ProofStoreResource
from resources.staging import StagingArea

GROUP = "erasure"


def crm_erasure_asset(region: str) -> AssetsDefinition:
    name = f"crm_{region}_erasure"

    @asset(
        name=name,
        partitions_def=partitions_for(GROUP),
        group_name=GROUP,
        ins={"subject": AssetIn(subject_asset_name(GROUP))},
        kinds={"sql"},
        check_specs=[
            verified_check(
                name,
                "A fresh search with every resolved identity finds only rows kept with a legal "
                "basis or already anonymised.",
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
        hold_request(context, led, request_id)
        with (
            failing_request(context, led, request_id, f"crm:{region} erasure"),
            ExitStack() as stack,
        ):
            eraser = CrmEraser(
                crm.connector(region),
                hasher=ledger.key_ring().keyed_hash,
                physical=crm.physical_cleanup,  # type: ignore[arg-type]
            )
            stones = backups.tombstones()
            stack.callback(stones.close)
            one = ErasureSubject(request_id, subject.scope, subject.client_id, subject.identities)
            results, failed = erase_region(
                eraser, [one], led=led, stones=stones, attempt=context.run.run_id
            )
            if failed:
                raise failed[request_id]
            result = results[request_id]
            verification, totals = result.verification, result.applied
            if not verification.ok:
                led.transition(
                    request_id,
                    State.FAILED,
                    reason=f"crm:{region}: {len(verification.unexpected)} rows still hold the "
                    "person after erasure",
                )
        attempts = RegionAttempts(led, request_id, region)
        context.log.info(
            f"crm:{region}: "
            + ", ".join(f"{t} {a}={n}" for t, acts in totals.items() for a, n in acts.items())
            + f" over {attempts.attempts()} attempt(s)"
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
        yield verified_result(
            verification.ok,
            {
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
        partitions_def=partitions_for(GROUP),
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
            issued = issue_deletion_proof(
                record,
                list(results.values()),
                led=led,
                ledger=ledger,
                proofs=proofs,
                backups=backups,
            )
        purged = finish_cleanup(context.instance, led, staging, led.get(request_id))
        observe_deleted_bundles(context, led, request_id)
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
