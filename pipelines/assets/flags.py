"""Opt-out and restriction assets: each region flagged in one transaction, then the request closed.

The two requests differ only in which data map action they apply: a marketing opt-out sets the
tables' ``suppression`` (policy 5.3), a restriction (Art. 18; an objection under Art. 21 while
it is weighed) their ``restriction``.

Once a region's flags committed, the person's keyed identity hashes are recorded as a
suppression (``dsr.erasure.tombstones``) with the time the flags carry: a backup taken before
then, if restored, gets the same flags again before it is usable.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dagster import AssetExecutionContext, AssetIn, AssetsDefinition, Output, asset

from connectors.crm.flags import Action, CrmFlagger
from dsr.ledger import RequestType
from dsr.ledger.audit import check_no_personal_data
from pipelines.assets.discovery import DB_RETRIES, ResolvedSubject, db_retry, subject_asset_name
from pipelines.assets.record import record_asset
from pipelines.partitions import partitions_for
from pipelines.request_lease import hold_request
from pipelines.request_state import failing_request
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource

PerTable = dict[str, dict[str, int]]


@dataclass(frozen=True)
class FlagRequest:
    type: RequestType
    action: Action
    group: str  # asset group, and the suffix of the asset names
    step: str  # how a failed step is named in the ledger
    event: str  # the audit event of each region
    # A restriction is an ongoing state: lifting it (dsr.restriction_lift) finds the person's
    # rows with these identities, so they are forgotten when it is lifted, not when fulfilled.
    keeps_identities: bool = False


OPT_OUT = FlagRequest(RequestType.OPT_OUT, "suppression", "opt_out", "opt-out", "suppressed")
RESTRICTION = FlagRequest(
    RequestType.RESTRICTION, "restriction", "restriction", "restriction", "restricted", True
)
FLAG_REQUESTS = (OPT_OUT, RESTRICTION)


def crm_flag_asset(req: FlagRequest, region: str) -> AssetsDefinition:
    @asset(
        name=f"crm_{region}_{req.group}",
        partitions_def=partitions_for(req.group),
        group_name=req.group,
        ins={"subject": AssetIn(subject_asset_name(req.group))},
        retry_policy=db_retry,
        kinds={"sql"},
        description=f"Set the data map's {req.action} on the person's rows in the {region} CRM, "
        "in one transaction, with an audit entry (counts and row ids only).",
    )
    def _flag(
        context: AssetExecutionContext,
        crm: CrmDatabasesResource,
        ledger: LedgerResource,
        backups: BackupsResource,
        subject: ResolvedSubject,
    ) -> Output[PerTable]:
        led = ledger.ledger()
        step = f"crm:{region} {req.step}"
        hold_request(context, led, subject.request_id)
        with failing_request(context, led, subject.request_id, step, retries=DB_RETRIES):
            connector = crm.connector(region)
            findings = subject.find_in(connector)
            flagger = CrmFlagger(connector)
            applied_at = datetime.now(UTC)
            plan = flagger.plan(findings, req.action, at=applied_at)
            details = {
                "region": region,
                "action": req.action,
                # The keyed hash lets an auditor match a suppression to a person, nothing more.
                "subject_hash": led.get(subject.request_id).subject_hash,
                "rows_per_table": plan.counts(),
                "rows": [
                    {"table": c.table, "row_id": c.pk, "columns": sorted(c.values)}
                    for c in plan.changes
                ],
            }
            grounds = led.payload(subject.request_id).get("grounds")
            if grounds:
                details["grounds"] = grounds
            # Before the commit: an entry the ledger would refuse must not follow changes made.
            check_no_personal_data(details)
            flagger.apply(plan)
            # After the commit, and even when nothing changed: an older backup may still lack
            # the flags. Hashes only; the identities themselves are forgotten at the end (a
            # restriction's when it is lifted).
            stones = backups.tombstones()
            try:
                stones.suppress(
                    subject.request_id,
                    region,
                    req.type.value,
                    set(subject.identities) | findings.identities,
                    subject.scope,
                    subject.client_id,
                    applied_at,
                )
            finally:
                stones.close()
            led.audit(subject.request_id, req.event, details)
        counts = plan.counts()
        context.log.info(f"crm:{region}: {plan.rows_changed} rows {req.event} {counts}")
        return Output(
            counts,
            metadata={
                "region": region,
                "action": req.action,
                "rows_changed": plan.rows_changed,
                "set_per_table": {t: c["set"] for t, c in counts.items()},
                "already_per_table": {t: c["already"] for t, c in counts.items()},
            },
        )

    return _flag


def flag_record_asset(req: FlagRequest, regions: Sequence[str]) -> AssetsDefinition:
    def summarise(per_region: dict[str, PerTable]) -> tuple[dict[str, Any], dict[str, Any]]:
        per_system = {
            f"crm:{name.removeprefix('crm_').removesuffix('_' + req.group)}": counts
            for name, counts in per_region.items()
        }
        changed = {
            system: sum(c["set"] for c in tables.values()) for system, tables in per_system.items()
        }
        result = {"action": req.action, "rows_per_system": changed, "rows_per_table": per_system}
        return result, {"rows_changed_per_system": changed, "systems": sorted(per_system)}

    return record_asset(
        name=f"{req.group}_record",
        group=req.group,
        inputs=[f"crm_{region}_{req.group}" for region in regions],
        description=f"Closes the {req.step} request once every region is done: counts per "
        "system and table in the ledger; the identities are "
        + ("kept until it is lifted." if req.keeps_identities else "forgotten."),
        step=f"{req.step} record",
        summarise=summarise,
    )


def flag_assets(regions: Sequence[str]) -> list[AssetsDefinition]:
    return [
        asset_def
        for req in FLAG_REQUESTS
        for asset_def in (
            *(crm_flag_asset(req, region) for region in regions),
            flag_record_asset(req, regions),
        )
    ]
