"""Backups as Dagster sees them: a daily snapshot per region, and a daily expiry run.

Policy 12 keeps backups one month. Each snapshot carries a keyed-hash identity index, so the
deletion proof can name the backups that still hold a person, and a restore re-applies every
erasure recorded since (``dsr restore-backup``). The expiry run deletes what is past retention
and issues the final certificate of each erasure whose person no backup holds any more
(``dsr.retention.backup_expiry``); its schedule passes the tick's time as run config, so a run
that starts late still expires as of its tick, and a test can pin the time the same way.
"""

from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSelection,
    Config,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    Failure,
    MaterializeResult,
    OpExecutionContext,
    RunConfig,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
    in_process_executor,
    job,
    op,
    schedule,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from pydantic import Field

from dsr.retention.backup_expiry import expire_backups as expire
from dsr.times import not_in_future, parse_aware
from pipelines.ticks import tick_time
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource
from resources.proofs import ProofStoreResource

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


class ExpiryConfig(Config):
    now: str | None = Field(
        default=None,
        description="Expire as of this time (ISO 8601 with a zone, e.g. 2026-11-24T03:30:00+00:00)."
        " The schedule passes its tick's time, so a run that starts late still expires as of its"
        " tick. Empty: the current time. Never later than the clock: that would expire early.",
    )


def expiry_time(config: ExpiryConfig, clock: datetime) -> datetime:
    """The time the run expires as of; ValueError for a malformed, zone-less or future time."""
    when = parse_aware(config.now, "now")
    if when is None:
        return clock
    consequence = "expiring as of the future would delete backups before their time"
    not_in_future(when, "now", consequence, clock)
    return when


@op(
    description="Delete backups past retention (never a region's only one), audit each, and issue "
    "the final certificate of every erasure no backup holds any more"
)
def expire_backups(
    context: OpExecutionContext,
    config: ExpiryConfig,
    backups: BackupsResource,
    ledger: LedgerResource,
    proofs: ProofStoreResource,
) -> None:
    try:
        now = expiry_time(config, datetime.now(UTC))
    except ValueError as exc:
        raise Failure(description=str(exc)) from None
    report = expire(
        backups.store(),
        backups.tombstones(),
        ledger.ledger(),
        ledger.key_ring(),
        proofs.folder(),
        now,
    )
    removed = sum(len(v) for v in report.removed.values())
    remaining = {region: len(ids) for region, ids in report.remaining.items()}
    context.log.info(
        f"as of {now.isoformat()}: removed {removed} backups {report.removed}; remaining per "
        f"region {remaining}; final certificates issued for {report.certificates or 'none'}; "
        f"{len(report.awaiting)} erasures still held by a backup"
    )
    metadata = report.as_metadata()
    if report.problems:
        # Fail loudly: the deletions happened, but a certificate that is due was not issued.
        raise Failure(
            description="backup expiry incomplete: " + "; ".join(report.problems),
            metadata=metadata,
        )
    context.add_output_metadata(metadata)


@job(executor_def=in_process_executor, description="Daily expiry of CRM backups (30 days).")
def expire_backups_job() -> None:
    expire_backups()


@schedule(
    job=expire_backups_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    name="expire_backups_job_schedule",
)
def expire_backups_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    tick = tick_time(context)
    return RunRequest(
        run_key=f"expire-backups-{tick:%Y-%m-%d}",
        run_config=RunConfig(ops={"expire_backups": ExpiryConfig(now=tick.isoformat())}),
        tags={"dsr/expiry_as_of": tick.isoformat()},
    )
