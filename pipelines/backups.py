"""Backups as Dagster sees them: a daily snapshot per region, and a daily expiry run.

Policy 12 keeps backups one month. Each snapshot carries a keyed-hash identity index, so the
deletion proof can name the backups that still hold a person, and a restore re-applies every
erasure recorded since (``dsr restore-backup``).
"""

from datetime import UTC, datetime, timedelta

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSelection,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    MaterializeResult,
    OpExecutionContext,
    ScheduleDefinition,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
    in_process_executor,
    job,
    op,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource

daily = DailyPartitionsDefinition(start_date="2026-01-01")


def crm_backup_asset(region: str) -> AssetsDefinition:
    @asset(
        name=f"crm_{region}_backup",
        partitions_def=daily,
        group_name="backups",
        kinds={"sql"},
        description=f"Compressed snapshot of the {region} CRM with its identity index.",
    )
    def _backup(
        context: AssetExecutionContext, crm: CrmDatabasesResource, backups: BackupsResource
    ) -> MaterializeResult:
        record = backups.store().snapshot(region, crm.urls[region], crm.datamap())
        context.log.info(f"{record.backup_id}: {record.size} bytes, expires {record.expires_at}")
        return MaterializeResult(
            metadata={
                "backup_id": record.backup_id,
                "bytes": record.size,
                "expires_at": record.expires_at.isoformat(),
                "index_entries": record.index_entries,
                "rows": sum(record.tables.values()),
            }
        )

    return _backup


def backup_job() -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        "daily_backups",
        selection=AssetSelection.groups("backups"),
        executor_def=in_process_executor,
        description="Snapshot every regional CRM (policy 12: kept one month).",
    )


def backup_schedule(backups: UnresolvedAssetJobDefinition) -> ScheduleDefinition:
    return build_schedule_from_partitioned_job(
        backups, hour_of_day=2, default_status=DefaultScheduleStatus.RUNNING
    )


@op(description="Delete backups past retention (never a region's only one); audit each")
def expire_backups(
    context: OpExecutionContext, backups: BackupsResource, ledger: LedgerResource
) -> None:
    store, led = backups.store(), ledger.ledger()
    now = datetime.now(UTC)
    store.sweep_partials()
    removed = []
    for record in store.expired(now):
        store.delete(record.backup_id)
        led.audit(None, "backup_expired", {"backup_id": record.backup_id, "region": record.region})
        removed.append(record.backup_id)
    remaining = store.list()
    if remaining:
        oldest = min(r.created_at for r in remaining)
        # Tombstones matter only while a backup older than the erasure exists.
        backups.tombstones().purge_before(oldest - timedelta(days=1))
    context.log.info(f"removed {len(removed)} backups; {len(remaining)} remain")
    context.add_output_metadata({"removed": removed, "remaining": [r.backup_id for r in remaining]})


@job(executor_def=in_process_executor, description="Daily expiry of CRM backups (30 days).")
def expire_backups_job() -> None:
    expire_backups()


expire_backups_schedule = ScheduleDefinition(
    job=expire_backups_job,
    cron_schedule="30 3 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
)
