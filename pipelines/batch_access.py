"""``access_batch``: many access (and portability) requests in one Dagster run.

One discovery pass per table for all of them, then each request's own bundle, exactly as the
per-request ``access_fulfilment`` job makes it (``bundle_issue``): same file, same ledger record,
same materialisations of its own partitions (``access_subject_identities``,
``crm_<region>_findings``, ``<service>_findings``, ``access_bundle``). A request whose bundle
fails is marked failed with its reason; the others finish.
"""

import time

from dagster import Nothing, OpExecutionContext, Out, Output, in_process_executor, job, op

from pipelines.assets.bundle import bundle_metadata
from pipelines.assets.discovery import subject_asset_name
from pipelines.assets.services import search_service
from pipelines.batch_common import (
    BatchConfig,
    finish_batch,
    kinds,
    materialized,
    resolve_together,
    take_requests,
    tenants_reached,
)
from pipelines.bundle_issue import issue_bundle
from pipelines.erasure_cleanup import finish_cleanup
from pipelines.event_batch import log_together
from pipelines.jobs import ACCESS_JOB
from pipelines.request_lease import release_request
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.exports import ExportStoreResource
from resources.integrations import SERVICES, IntegrationsResource
from resources.ledger import LedgerResource
from resources.staging import StagingArea

ACCESS_BATCH_JOB = "access_batch"


@op(
    description="Fulfil the access requests named in the config together; one bundle each",
    out=Out(Nothing),
)
def fulfil_access_batch(
    context: OpExecutionContext,
    config: BatchConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
    integrations: IntegrationsResource,
    exports: ExportStoreResource,
    backups: BackupsResource,
    staging: StagingArea,
) -> Output[None]:
    led = ledger.ledger()
    stages: dict[str, float] = {}
    started = time.perf_counter()
    batch = take_requests(context, led, config.request_ids, ACCESS_JOB)
    stages["take"] = time.perf_counter() - started
    context.log.info(f"access batch: {len(batch.records)} requests taken")
    if batch.records:
        connectors = crm.connectors()
        for connector in connectors:
            connector.validate()
        given = {r.request_id: led.identities(r.request_id) for r in batch.records}
        mark = time.perf_counter()
        found = resolve_together(connectors, batch.records, given)
        stages["discovery"] = time.perf_counter() - mark
        mark = time.perf_counter()
        for n, record in enumerate(batch.records, start=1):
            rid = record.request_id
            try:
                crm_findings = found[rid]
                identities = set().union(*(f.identities for f in crm_findings.values()))
                tenants = tenants_reached(connectors, crm_findings, record.client_id)
                searches = [
                    search_service(integrations, crm, kind, tenants, identities)
                    for kind in SERVICES
                ]
                issued = issue_bundle(
                    record,
                    [*crm_findings.values(), *searches],
                    led=led,
                    ledger=ledger,
                    exports=exports,
                    crm=crm,
                    backups=backups,
                )
            except Exception as exc:
                batch.fail(led, record, "bundle assembly", exc)
                continue
            finish_cleanup(context.instance, led, staging, led.get(rid))
            release_request(led, rid, context.run.run_id)
            log_together(
                context,
                [
                    materialized(
                        subject_asset_name("access"), rid, {"identities": kinds(identities)}
                    ),
                    *(
                        materialized(f"crm_{region}_findings", rid, {"rows": f.total_rows})
                        for region, f in crm_findings.items()
                    ),
                    *(
                        materialized(f"{s.system}_findings", rid, {"status": s.status})
                        for s in searches
                    ),
                    materialized("access_bundle", rid, bundle_metadata(issued)),
                ],
            )
            if n % 50 == 0 or n == len(batch.records):
                context.log.info(f"access batch: {n} of {len(batch.records)} bundles")
        stages["bundles"] = time.perf_counter() - mark
    return finish_batch(context, led, batch, stages, "access")


@job(
    name=ACCESS_BATCH_JOB,
    executor_def=in_process_executor,
    description="Fulfil many access requests in one run: one discovery pass, one bundle each.",
    tags={"dsr/kind": "access_batch"},
)
def access_batch_job() -> None:
    fulfil_access_batch()
