"""``erasure_batch``: many erasures in one Dagster run, each with its own signed proof.

Identities are resolved once for the batch and recorded per request before the first change;
each region erases every request in one transaction (``region_erasure``: a failing request then
fails alone); each request's services are erased and its proof issued exactly as the
per-request ``erasure_fulfilment`` job does (``proof_issue``), with its own partitions
materialised. A request whose step fails is marked failed with the reason; the others finish.
"""

import time
from contextlib import ExitStack

from dagster import Nothing, OpExecutionContext, Out, Output, in_process_executor, job, op

from dsr.erasure.crm import CrmEraser, ErasureResult
from dsr.ledger import RequestRecord
from dsr.proof.subjects_ahead import SubjectsAhead
from pipelines.assets.discovery import subject_asset_name
from pipelines.assets.services import ServiceOutcome, erase_service
from pipelines.batch_common import (
    Batch,
    BatchConfig,
    finish_batch,
    kinds,
    materialized,
    resolve_and_record,
    take_requests,
    verified,
)
from pipelines.bundle_lineage import deleted_bundle_events
from pipelines.erasure_cleanup import finish_cleanup
from pipelines.event_batch import AssetEvent, log_together
from pipelines.jobs import ERASURE_JOB
from pipelines.proof_issue import issue_deletion_proof
from pipelines.region_erasure import ErasureSubject, erase_region
from pipelines.request_lease import release_request
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.integrations import SERVICES, IntegrationsResource
from resources.ledger import LedgerResource
from resources.proofs import ProofStoreResource
from resources.staging import StagingArea

ERASURE_BATCH_JOB = "erasure_batch"


@op(
    description="Erase the people of the erasure requests named in the config together; "
    "one signed proof each",
    out=Out(Nothing),
)
def fulfil_erasure_batch(
    context: OpExecutionContext,
    config: BatchConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
    integrations: IntegrationsResource,
    proofs: ProofStoreResource,
    backups: BackupsResource,
    staging: StagingArea,
) -> Output[None]:
    led = ledger.ledger()
    attempt = context.run.run_id
    stages: dict[str, float] = {}
    mark = time.perf_counter()
    batch = take_requests(context, led, config.request_ids, ERASURE_JOB)
    stages["take"] = time.perf_counter() - mark
    if not batch.records:
        return finish_batch(context, led, batch, stages, "erasure")
    connectors = crm.connectors()
    for connector in connectors:
        connector.validate()
    mark = time.perf_counter()
    resolved = resolve_and_record(connectors, led, batch.records)
    stages["resolution"] = time.perf_counter() - mark
    subjects = [
        ErasureSubject(r.request_id, str(r.scope), r.client_id, resolved[r.request_id][0])
        for r in batch.records
    ]
    crm_results: dict[str, list[ErasureResult]] = {s.request_id: [] for s in subjects}
    # The proofs' subjects are hashed on a second thread while the batch erases.
    with SubjectsAhead() as hashing:
        for record in batch.records:
            if record.request_id not in batch.failed:
                hashing.hash_ahead(record.request_id, led.identities(record.request_id))
        mark = time.perf_counter()
        with ExitStack() as stack:
            stones = backups.tombstones()
            stack.callback(stones.close)
            for connector in connectors:
                eraser = CrmEraser(
                    connector,
                    hasher=ledger.key_ring().keyed_hash,
                    physical=crm.physical_cleanup,  # type: ignore[arg-type]
                )
                alive = [s for s in subjects if s.request_id not in batch.failed]
                results, failed = erase_region(
                    eraser, alive, led=led, stones=stones, attempt=attempt
                )
                for rid, exc in failed.items():
                    batch.fail(led, _record(batch, rid), f"crm:{connector.region} erasure", exc)
                for rid, result in results.items():
                    crm_results[rid].append(result)
                    if not result.verification.ok:
                        why = f"{len(result.verification.unexpected)} rows still hold the person"
                        batch.fail(led, _record(batch, rid), "verification", RuntimeError(why))
                context.log.info(f"crm:{connector.region}: {len(results)} requests erased")
        stages["crm"] = time.perf_counter() - mark
        mark = time.perf_counter()
        for n, record in enumerate(batch.records, start=1):
            rid = record.request_id
            if rid in batch.failed:
                continue
            identities, tenants = resolved[rid]
            try:
                outcomes = [
                    erase_service(
                        integrations,
                        crm,
                        kind,
                        tenants,
                        set(identities),
                        led=led,
                        request_id=rid,
                        attempt=attempt,
                        subject_ref=record.subject_hash[:16],
                    )
                    for kind in SERVICES
                ]
                unverified = [o.system for o in outcomes if not o.verified]
                if unverified:
                    raise RuntimeError(
                        f"{', '.join(unverified)}: items are still found after erasure"
                    )
                issued = issue_deletion_proof(
                    record,
                    [*crm_results[rid], *outcomes],
                    led=led,
                    ledger=ledger,
                    proofs=proofs,
                    backups=backups,
                    subjects=hashing,
                )
            except Exception as exc:
                batch.fail(led, record, "services and proof", exc)
                continue
            finish_cleanup(context.instance, led, staging, led.get(rid))
            release_request(led, rid, attempt)
            log_together(
                context,
                [
                    *_lineage(rid, identities, crm_results[rid], outcomes, issued.sha256),
                    *deleted_bundle_events(led, rid, context.run.run_id),
                ],
            )
            if n % 50 == 0 or n == len(batch.records):
                context.log.info(f"erasure batch: {n} of {len(batch.records)} requests done")
        stages["services_and_proofs"] = time.perf_counter() - mark
    return finish_batch(context, led, batch, stages, "erasure")


def _record(batch: Batch, request_id: str) -> RequestRecord:
    return next(r for r in batch.records if r.request_id == request_id)


def _lineage(
    rid: str,
    identities: frozenset,
    crm_results: list[ErasureResult],
    outcomes: list[ServiceOutcome],
    proof_sha256: str,
) -> list[AssetEvent]:
    """What a single erasure run records for the request's partitions."""
    events: list[AssetEvent] = [
        materialized(subject_asset_name("erasure"), rid, {"identities_resolved": kinds(identities)})
    ]
    for r in crm_results:
        asset = f"crm_{r.region}_erasure"
        events.append(materialized(asset, rid, {"applied": r.applied}))
        events.append(verified(asset, rid, r.verification.ok, len(r.verification.unexpected)))
    for o in outcomes:
        asset = f"{o.system}_erasure"
        events.append(materialized(asset, rid, {"status": o.status, "changed": o.changed}))
        remaining = sum(sum(v.remaining.values()) for v in o.verifications)
        events.append(verified(asset, rid, o.verified, remaining))
    events.append(materialized("deletion_proof", rid, {"sha256": proof_sha256}))
    return events


@job(
    name=ERASURE_BATCH_JOB,
    executor_def=in_process_executor,
    description="Erase many people in one run: one pass and one transaction per region, one "
    "proof each.",
    tags={"dsr/kind": "erasure_batch"},
)
def erasure_batch_job() -> None:
    fulfil_erasure_batch()
