"""Hourly: finish the cleanup of every closed request a crash interrupted.

A request whose run died between "fulfilled" and "cleanup done" would otherwise keep its
encrypted identities, recorded resolution and staged findings for ever. ``cleanup_sweep_job``
finds them (closed, no ``cleanup_done`` entry: one indexed query) and runs the same
``finish_cleanup`` the fulfilment run would have run. ``dsr run ID`` does it for one request.
"""

from dagster import (
    DefaultScheduleStatus,
    Definitions,
    OpExecutionContext,
    ScheduleDefinition,
    in_process_executor,
    job,
    op,
)

from dsr.settings import Settings
from pipelines.erasure_cleanup import cleanup_pending, finish_cleanup
from resources.ledger import LedgerResource
from resources.staging import StagingArea

SWEEP_JOB = "cleanup_sweep_job"


@op(description="Finish the cleanup of closed requests whose run stopped before it")
def sweep_cleanups(
    context: OpExecutionContext, ledger: LedgerResource, staging: StagingArea
) -> None:
    led = ledger.ledger()
    pending = cleanup_pending(led)
    for record in pending:
        counts = finish_cleanup(context.instance, led, staging, record)
        context.log.info(f"request {record.request_id}: cleanup finished {counts}")
    context.log.info(f"{len(pending)} interrupted cleanups finished")


@job(name=SWEEP_JOB, executor_def=in_process_executor, description=__doc__.split("\n")[0])
def cleanup_sweep_job() -> None:
    sweep_cleanups()


cleanup_sweep_schedule = ScheduleDefinition(
    name="hourly_cleanup_sweep",
    job=cleanup_sweep_job,
    cron_schedule="7 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)


def definitions(settings: Settings) -> Definitions:
    del settings  # resources come from the core definitions
    return Definitions(jobs=[cleanup_sweep_job], schedules=[cleanup_sweep_schedule])
