"""The export bundle: every region's findings assembled into one verifiable ZIP."""

from collections.abc import Iterable, Sequence

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from connectors.base import Findings
from dsr.bundle import BundleRequest, build_bundle, verify_bundle
from dsr.faults import crash_point
from dsr.ledger import State
from pipelines.assets.services import NOT_CONNECTED, ServiceSearch
from pipelines.erasure_cleanup import finish_cleanup
from pipelines.partitions import request_partitions
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
        partitions_def=request_partitions,
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
            findings, not_searched = _flatten(findings_by_asset.values())
            identities = set().union(*(f.identities for f in findings if f.system == "crm"))
            held_in = [
                {
                    "backup_id": b.backup_id,
                    "region": b.region,
                    "expires_at": b.expires_at.isoformat(),
                }
                for b in backups.store().holding(identities)
            ]
            store, out_dir = exports.dir_for(f.region for f in findings if f.rows)
            out_dir.mkdir(parents=True, exist_ok=True)
            result = build_bundle(
                BundleRequest(
                    request_id=request_id,
                    request_type=record.type,
                    scope=record.scope,
                    client_id=record.client_id,
                    received_at=record.received_at,
                    due_at=record.due_at,
                ),
                findings,
                {"crm": crm.datamap()},
                ledger.key_ring(),
                out_dir,
                not_searched=not_searched,
                backups=held_in,
            )
            crash_point("bundle_written")
            report = verify_bundle(result.path, ledger.key_ring().public_key_pem())
            if not report.ok:
                raise RuntimeError(
                    "the bundle failed its own verification: " + "; ".join(report.problems)
                )
            led.transition(
                request_id,
                State.FULFILLED,
                result={
                    "bundle": str(result.path),
                    "bundle_sha256": result.sha256,
                    "store": store,
                    "rows_per_system": result.rows_per_system,
                    "mentions_per_system": result.mentions_per_system,
                    "not_searched": not_searched,
                    "backups_holding": [b["backup_id"] for b in held_in],
                },
            )
            crash_point("fulfilled")
        # The bundle is the answer; the identities were needed only to produce it.
        finish_cleanup(context.instance, led, staging, led.get(request_id))
        release_request(led, request_id, context.run.run_id)
        context.log.info(
            f"request {request_id}: bundle of {result.files} files in the {store} store; rows "
            + ", ".join(f"{k}={v}" for k, v in result.rows_per_system.items())
        )
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(result.path)),
                "sha256": result.sha256,
                "files": result.files,
                "store": store,
                "rows_per_system": result.rows_per_system,
                "mentions_per_system": result.mentions_per_system,
            }
        )

    return access_bundle


def _flatten(values: Iterable[Findings | ServiceSearch]) -> tuple[list[Findings], dict[str, str]]:
    """CRM findings and every service account's findings; services nobody connected, named."""
    findings: list[Findings] = []
    not_searched: dict[str, str] = {}
    for value in values:
        if isinstance(value, ServiceSearch):
            findings += value.findings
            if value.status == NOT_CONNECTED:
                not_searched[value.system] = "not connected by the Clients this request reaches"
        else:
            findings.append(value)
    return findings, not_searched
