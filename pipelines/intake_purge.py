"""Hourly: delete the intake runs that registered nothing, once their retention has passed.

A refused form or a dry run registers no request, so no erasure will ever name it; yet its run
config holds the identity support typed. ``hourly_intake_run_purge`` deletes every finished intake
run without a request id that ended more than ``DSR_INTAKE_RUN_RETENTION_HOURS`` ago (default
24: long enough for support to read why a form was refused), whoever the person is. Runs that
registered a request stay until that person's erasure (or the request's own clean-up) removes them.
"""

from datetime import UTC, datetime, timedelta

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    Definitions,
    JobDefinition,
    OpExecutionContext,
    RunsFilter,
    ScheduleDefinition,
    in_process_executor,
    job,
    op,
)

from dsr.settings import Settings
from pipelines.erasure_cleanup import compact_sqlite_storage
from pipelines.intake_names import INTAKE_JOBS, REGISTERED_TAG, REQUEST_ID_TAG

PURGE_JOB = "purge_intake_runs_job"
_FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def purge_intake_runs(instance: DagsterInstance, retention: timedelta) -> int:
    """Delete finished intake runs without a request id that ended before now - retention."""
    cutoff = (datetime.now(UTC) - retention).timestamp()
    deleted = 0
    for name in sorted(INTAKE_JOBS):
        filters = RunsFilter(job_name=name, statuses=_FINISHED)
        for record in instance.get_run_records(filters=filters):
            run = record.dagster_run
            if REQUEST_ID_TAG in run.tags or REGISTERED_TAG in run.tags:  # a list run's mark
                continue
            ended = record.end_time or record.create_timestamp.timestamp()
            if ended < cutoff:
                instance.delete_run(run.run_id)
                deleted += 1
    if deleted:
        compact_sqlite_storage(instance)  # deleted config lingers in SQLite's free pages
    return deleted


def purge_job(retention_hours: int) -> JobDefinition:
    @op(
        name="purge_intake_runs",
        description=f"Delete intake runs that registered nothing, {retention_hours} h after they "
        "ended",
    )
    def purge(context: OpExecutionContext) -> None:
        deleted = purge_intake_runs(context.instance, timedelta(hours=retention_hours))
        context.log.info(f"{deleted} intake runs without a request deleted")
        context.add_output_metadata({"deleted_runs": deleted, "retention_hours": retention_hours})

    @job(name=PURGE_JOB, executor_def=in_process_executor, description=__doc__.split("\n")[0])
    def purge_intake_runs_job() -> None:
        purge()

    return purge_intake_runs_job


def definitions(settings: Settings) -> Definitions:
    purge = purge_job(settings.intake_run_retention_hours)
    schedule = ScheduleDefinition(
        name="hourly_intake_run_purge",
        job=purge,
        cron_schedule="23 * * * *",
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
    )
    return Definitions(jobs=[purge], schedules=[schedule])
