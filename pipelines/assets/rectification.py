"""Rectification assets: each region corrected in one transaction, then the request closed."""

from collections import Counter
from collections.abc import Sequence

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    MaterializeResult,
    Output,
    asset,
)

from connectors.crm.rectify import CrmRectifier
from dsr.ledger import State
from pipelines.assets.discovery import ResolvedSubject, subject_asset_name
from pipelines.erasure_cleanup import finish_cleanup
from pipelines.partitions import partitions_for
from pipelines.request_lease import hold_request, release_request
from pipelines.request_state import failing_request
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource
from resources.staging import StagingArea

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
            rectifier.apply(corrections)
            led.audit(
                subject.request_id,
                "rectified",
                {
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
                },
            )
        per_table = dict(sorted(Counter(c.table for c in corrections).items()))
        context.log.info(f"crm:{region}: {len(corrections)} values corrected {per_table}")
        return Output(per_table, metadata={"region": region, "corrected_per_table": per_table})

    return _rectify


def rectification_record_asset(regions: Sequence[str]) -> AssetsDefinition:
    @asset(
        name="rectification_record",
        partitions_def=partitions_for(GROUP),
        group_name=GROUP,
        ins={f"crm_{region}_rectification": AssetIn() for region in regions},
        kinds={"json"},
        description="Closes the rectification: counts per system in the ledger; the new values "
        "and identities are forgotten.",
    )
    def rectification_record(
        context: AssetExecutionContext,
        ledger: LedgerResource,
        staging: StagingArea,
        **per_region: dict[str, int],
    ) -> MaterializeResult:
        request_id = context.partition_key
        led = ledger.ledger()
        counts = {
            f"crm:{name.removeprefix('crm_').removesuffix('_rectification')}": sum(c.values())
            for name, c in per_region.items()
        }
        hold_request(context, led, request_id)
        with failing_request(context, led, request_id, "rectification record"):
            led.transition(request_id, State.FULFILLED, result={"rows_per_system": counts})
        finish_cleanup(context.instance, led, staging, led.get(request_id))
        release_request(led, request_id, context.run.run_id)
        return MaterializeResult(metadata={"corrected_per_system": counts})

    return rectification_record
