"""Retention purges (policy 12) as Dagster runs them: one job, one daily schedule.

``retention_purge`` runs four independent steps — closed Clients, closed Users, expired billing
rows, expired export bundles — so one failing does not stop the others, and the run fails
visibly if any did. The Launchpad shows one form (``dry_run``, ``now``) for all four. The
schedule passes its tick time as ``now``, so a run counts from when it was due, not from when it
happened to start.

A real step runs under the purge's lease (``dsr.retention.run.run_purge``): while
``dsr purge`` or another run is doing the same purge, the step fails with who holds it until
when, and changes nothing; the next tick runs it.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dagster import (
    Config,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    JobDefinition,
    MetadataValue,
    OpDefinition,
    OpExecutionContext,
    RunConfig,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    config_mapping,
    in_process_executor,
    job,
    op,
    schedule,
)
from pydantic import Field

from dsr.retention.purges import PurgeContext, PurgeOutcome
from dsr.retention.run import PurgeRefused, run_purge
from dsr.settings import Settings
from dsr.times import not_in_future, parse_aware
from pipelines.ticks import tick_time
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.exports import ExportStoreResource
from resources.ledger import LedgerResource
from resources.proofs import ProofStoreResource

JOB = "retention_purge"
SCHEDULE = "daily_retention_purge"
STEPS = {
    "closed_clients": "Erase the contents of Clients closed a month ago (one transaction and one "
    "signed proof per account; billing kept with its legal basis)",
    "closed_users": "Queue an erasure request for each User closed a month ago (the "
    "pending_requests sensor runs it; each gets the normal deletion proof); a restricted User "
    "is held (counted as 'held: restricted') until the restriction is lifted",
    "billing": "Delete kept rows whose retention is over (billing: 7 years)",
    "export_bundles": "Delete export bundles older than their retention (default 30 days)",
}


class RetentionPurgeConfig(Config):
    dry_run: bool = Field(
        default=False,
        description="Show exactly what a real run would purge, per region and table; change "
        "nothing (no rows, no ledger entries, no files).",
    )
    now: str = Field(
        default="",
        description="The moment the purge counts from, ISO-8601 with a time zone "
        "(2026-11-25T04:15:00+00:00). Empty: when the step starts. The schedule passes its tick.",
    )


FUTURE = "purging as of the future would delete what is kept until then (a dry run may look ahead)"


def parse_now(text: str, *, dry_run: bool = False) -> datetime:
    """The purge's moment; a real purge is never as of a time later than the clock."""
    try:
        when = parse_aware(text, "now") or datetime.now(UTC)
        if not dry_run:
            not_in_future(when, "now", FUTURE)
    except ValueError as exc:
        raise Failure(f"{exc}; nothing was purged") from None
    return when


def purge_context(
    *,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
    proofs: ProofStoreResource,
    exports: ExportStoreResource,
    backups: BackupsResource,
    now: datetime,
    dry_run: bool,
    export_retention_days: int,
) -> PurgeContext:
    """What a purge needs, from the resources every job has (the CLI passes the same ones)."""
    store = backups.store()
    return PurgeContext(
        connectors=crm.connectors(),
        ledger=ledger.ledger(),
        keys=ledger.key_ring(),
        proofs_dir=proofs.folder(),
        now=now,
        dry_run=dry_run,
        physical=crm.physical_cleanup,
        export_dirs={r: p for r, p in zip(exports.dirs, exports.all_dirs(), strict=True)},
        export_retention_days=export_retention_days,
        backups=store.list() if store.root.is_dir() else [],
        tombstones=backups.tombstones(),
    )


def purge_context_from(
    resources: Mapping[str, Any], *, now: datetime, dry_run: bool, export_retention_days: int
) -> PurgeContext:
    """``purge_context`` from the resources by their keys, as ``build_resources`` makes them."""
    return purge_context(
        crm=resources["crm"],
        ledger=resources["ledger"],
        proofs=resources["proofs"],
        exports=resources["exports"],
        backups=resources["backups"],
        now=now,
        dry_run=dry_run,
        export_retention_days=export_retention_days,
    )


def outcome_metadata(outcome: PurgeOutcome, now: datetime) -> dict[str, Any]:
    return {
        "dry_run": outcome.dry_run,
        "now": now.isoformat(),
        "total": outcome.total,
        "counts": MetadataValue.json(outcome.counts),
        "items": MetadataValue.json(outcome.items),
        "failures": MetadataValue.json(outcome.failures),
    }


def purge_step(name: str, export_retention_days: int) -> OpDefinition:
    @op(name=f"purge_{name}", description=STEPS[name])
    def _purge(
        context: OpExecutionContext,
        config: RetentionPurgeConfig,
        crm: CrmDatabasesResource,
        ledger: LedgerResource,
        proofs: ProofStoreResource,
        exports: ExportStoreResource,
        backups: BackupsResource,
    ) -> None:
        now = parse_now(config.now, dry_run=config.dry_run)
        ctx = purge_context(
            crm=crm,
            ledger=ledger,
            proofs=proofs,
            exports=exports,
            backups=backups,
            now=now,
            dry_run=config.dry_run,
            export_retention_days=export_retention_days,
        )
        try:
            outcome = run_purge(name, ctx, holder=f"dagster run {context.run.run_id}")
        except PurgeRefused as exc:
            raise Failure(str(exc)) from None
        verb = "would purge" if outcome.dry_run else "purged"
        context.log.info(f"{name}: {verb} {outcome.total} (as of {now.isoformat()})")
        for line in outcome.lines():
            context.log.info(line)
        metadata = outcome_metadata(outcome, now)
        if outcome.failures:
            for failure in outcome.failures:
                context.log.error(failure)
            raise Failure(
                f"{name}: {len(outcome.failures)} failed; the rest was done and the next run "
                "resumes the failed ones",
                metadata=metadata,
            )
        context.add_output_metadata(metadata)

    return _purge


@config_mapping
def one_form(config: RetentionPurgeConfig) -> RunConfig:
    """The Launchpad shows one form; every step gets the same dry_run and now."""
    return RunConfig(ops={f"purge_{name}": config for name in STEPS})


def retention_job(settings: Settings) -> JobDefinition:
    steps = {name: purge_step(name, settings.export_retention_days) for name in STEPS}

    @job(
        name=JOB,
        config=one_form,
        executor_def=in_process_executor,
        description="Policy 12: purge closed accounts a month after closure, billing after 7 "
        "years, export bundles after their retention. Idempotent; dry_run changes nothing.",
        tags={"purpose": "retention"},
    )
    def _job() -> None:
        # Independent steps: one failing never keeps the others from running. (The users step
        # itself leaves a due Client's Users to that Client's purge.)
        for step in steps.values():
            step()

    return _job


def retention_schedule(purge_job: JobDefinition) -> ScheduleDefinition:
    @schedule(
        name=SCHEDULE,
        job=purge_job,
        cron_schedule="15 4 * * *",
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        description="Daily at 04:15 UTC (after backups and their expiry): retention purges as "
        "of the tick time.",
    )
    def _schedule(context: ScheduleEvaluationContext) -> RunRequest:
        tick = tick_time(context)
        return RunRequest(
            run_key=f"{SCHEDULE}:{tick:%Y-%m-%d}",
            run_config={"dry_run": False, "now": tick.isoformat()},
            tags={"retention/as_of": tick.isoformat()},
        )

    return _schedule


def definitions(settings: Settings) -> Definitions:
    purge_job = retention_job(settings)
    return Definitions(jobs=[purge_job], schedules=[retention_schedule(purge_job)])
