"""Rectification assets: each region corrected in one transaction, then the request closed."""

from collections import Counter
from collections.abc import Sequence
from typing import Any

from dagster import AssetExecutionContext, AssetIn, AssetsDefinition, Output, asset

from connectors.crm.rectify import CrmRectifier
from dsr.ledger.audit import check_no_personal_data
from pipelines.assets.discovery import ResolvedSubject, subject_asset_name
from pipelines.assets.record import record_asset
from pipelines.partitions import partitions_for
from pipelines.request_lease import hold_request
from pipelines.request_state import failing_request
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource

GROUP = "rectification"


def crm_rectification_asset(region: str) -> AssetsDefinition:
    @asset(
        name=f"crm_{region}_rectification",
        partitions_def=partitions_for(GROUP),
        group_name=GROUP,
        ins={"subject": AssetIn(subject_asset_name(GROUP))},
        kinds={"sql"},
        description=f"Correct the person's fields in the {region} CRM, in one transaction, with "
        "a hashed before/after record in the audit log.",
    )
    def _rectify(
        context: AssetExecutionContext,
        crm: CrmDatabasesResource,
        ledger: LedgerResource,
        subject: ResolvedSubject,
    ) -> Output[dict[str, int]]:
        led = ledger.ledger()
        keys = ledger.key_ring()
        hold_request(context, led, subject.request_id)
        with failing_request(context, led, subject.request_id, f"crm:{region} rectification"):
            changes = led.payload(subject.request_id)["changes"]
            connector = crm.connector(region)
            findings = subject.find_in(connector)
            rectifier = CrmRectifier(connector)
            corrections = rectifier.plan(findings, changes)
            details = {
                "region": region,
                "corrections": [
                    {
                        "table": c.table,
                        "row_id": c.pk,
                        "column": c.column,
                        "field": c.field,
                        "before_hash": keys.keyed_hash(c.field, str(c.before)),
                        "after_hash": keys.keyed_hash(c.field, str(c.after)),
                    }
                    for c in corrections
                ],
            }
            # Before the commit: an entry the ledger would refuse must not follow changes made.
            check_no_personal_data(details)
            rectifier.apply(corrections)
            led.audit(subject.request_id, "rectified", details)
        per_table = dict(sorted(Counter(c.table for c in corrections).items()))
        context.log.info(f"crm:{region}: {len(corrections)} values corrected {per_table}")
        return Output(per_table, metadata={"region": region, "corrected_per_table": per_table})

    return _rectify


def rectification_record_asset(regions: Sequence[str]) -> AssetsDefinition:
    def summarise(per_region: dict[str, dict[str, int]]) -> tuple[dict[str, Any], dict[str, Any]]:
        counts = {
            f"crm:{name.removeprefix('crm_').removesuffix('_rectification')}": sum(c.values())
            for name, c in per_region.items()
        }
        return {"rows_per_system": counts}, {"corrected_per_system": counts}

    return record_asset(
        name="rectification_record",
        group=GROUP,
        inputs=[f"crm_{region}_rectification" for region in regions],
        description="Closes the rectification: counts per system in the ledger; the new values "
        "and identities are forgotten.",
        step="rectification record",
        summarise=summarise,
    )
