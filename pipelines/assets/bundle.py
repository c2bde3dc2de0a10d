"""The export bundle: every region's findings assembled into one verifiable ZIP."""

from collections.abc import Sequence

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from connectors.base import Findings
from pipelines.assets.services import ServiceSearch
from pipelines.bundle_issue import IssuedBundle, issue_bundle
from pipelines.erasure_cleanup import finish_cleanup
from pipelines.partitions import partitions_for
from pipelines.request_lease import hold_request, release_request
from pipelines.request_state import failing_request
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.exports import ExportStoreResource
from resources.ledger import LedgerResource
from resources.staging import StagingArea

GROUP = "access"


def access_bundle_asset(regions: Sequence[str], services: Sequence[str]) -> AssetsDefinition:
    @asset(
        name="access_bundle",
        partitions_def=partitions_for(GROUP),
        group_name=GROUP,
        ins={
            **{f"crm_{region}_findings": AssetIn() for region in regions},
            **{f"{service}_findings": AssetIn() for service in services},
        },
        kinds={"zip"},
        description="The person's export: data per table as JSON and CSV, attachments, "
        "mentions, an Art. 15 summary and a signed manifest.",
    )
    def access_bundle(
        context: AssetExecutionContext,
        ledger: LedgerResource,
        exports: ExportStoreResource,
        crm: CrmDatabasesResource,
        backups: BackupsResource,
        staging: StagingArea,
        **findings_by_asset: Findings | ServiceSearch,
    ) -> MaterializeResult:
        request_id = context.partition_key
        led = ledger.ledger()
        record = led.get(request_id)
        hold_request(context, led, request_id)
        with failing_request(context, led, request_id, "bundle assembly"):
            issued = issue_bundle(
                record,
                findings_by_asset.values(),
                led=led,
                ledger=ledger,
                exports=exports,
                crm=crm,
                backups=backups,
            )
        # The bundle is the answer; the identities were needed only to produce it.
        finish_cleanup(context.instance, led, staging, led.get(request_id))
        release_request(led, request_id, context.run.run_id)
        context.log.info(
            f"request {request_id}: bundle of {issued.files} files in the {issued.store} store; "
            "rows " + ", ".join(f"{k}={v}" for k, v in issued.rows_per_system.items())
        )
        return MaterializeResult(metadata=bundle_metadata(issued))

    return access_bundle


def bundle_metadata(issued: IssuedBundle) -> dict:
    return {
        "path": MetadataValue.path(issued.path),
        "sha256": issued.sha256,
        "files": issued.files,
        "store": issued.store,
        "rows_per_system": issued.rows_per_system,
        "mentions_per_system": issued.mentions_per_system,
    }
