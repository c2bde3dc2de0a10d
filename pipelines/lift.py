"""Lifting a restriction (Art. 18(3)) from the Launchpad; `dsr lift-restriction` runs this job.

The form carries the request id, the reason, the reference of the notice that told the person
beforehand and who lifts it — no personal data. The work is ``dsr.restriction_lift``'s.
"""

from typing import Any

from dagster import (
    Config,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    Failure,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from connectors.crm.datamap import DataMapError
from dsr.ledger import LedgerError
from dsr.restriction_lift import lift_restriction
from dsr.settings import Settings
from pipelines.intake_names import REQUEST_ID_TAG
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource

LIFT_JOB = "lift_restriction_job"
OP = "lift_restriction"


class LiftRestrictionConfig(Config):
    request_id: str = Field(description="The fulfilled restriction to lift, r-YYYYMMDD-xxxxxxxx")
    reason: str = Field(description="Why it is lifted, e.g. 'accuracy verified' (no names)")
    notified_via: str = Field(
        description="How the person was told before the lift (Art. 18(3)), e.g. a ticket reply "
        "reference"
    )
    lifted_by: str = Field(description="Staff handle of who lifts it")


@op(
    name=OP,
    description="Clear the restriction flag the request set in every region (not where another "
    "restriction of the person still needs it), record the lift for restores, mark it lifted.",
)
def lift_restriction_op(
    context: OpExecutionContext,
    config: LiftRestrictionConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
    backups: BackupsResource,
) -> None:
    request_id = config.request_id.strip()
    try:
        record = lift_restriction(
            ledger.ledger(),
            crm.connectors(),
            backups.tombstones(),
            request_id,
            reason=config.reason,
            notified_via=config.notified_via,
            by=config.lifted_by,
        )
    except (LedgerError, ValueError, DataMapError) as exc:
        raise Failure(description=f"Not lifted: {exc}. Nothing was changed.") from None
    context.instance.add_run_tags(context.run.run_id, {REQUEST_ID_TAG: request_id})
    lifted = record.result["lifted"]
    for system, tables in lifted["rows_per_table"].items():
        context.log.info(f"{system}: {tables}")
    context.add_output_metadata(
        {
            "request_id": request_id,
            "state": record.state.value,
            "rows_cleared_per_system": lifted["rows_cleared_per_system"],
            "rows_per_table": lifted["rows_per_table"],
        }
    )


@job(
    name=LIFT_JOB,
    executor_def=in_process_executor,
    description="Support's form: lift a restriction of processing once the person was told "
    "(Art. 18(3)).",
)
def lift_restriction_job() -> None:
    lift_restriction_op()


def run_lift(
    defs: Definitions,
    instance: DagsterInstance,
    config: LiftRestrictionConfig,
    *,
    loggers: dict[str, Any] | None = None,
) -> ExecuteInProcessResult:
    """Execute the lift as a run the UI shows, here and now (the CLI's way in); ``loggers``:
    the run config of its loggers (``pipelines.launch.loggers_config``)."""
    return defs.resolve_job_def(LIFT_JOB).execute_in_process(
        run_config={
            "ops": {OP: {"config": config.model_dump()}},
            "loggers": loggers or {"console": {"config": {"log_level": "WARNING"}}},
        },
        instance=instance,
        raise_on_error=False,
        tags={REQUEST_ID_TAG: config.request_id.strip()},
    )


def failure_message(result: ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.user_failure_data
            if error is not None and error.description:
                return error.description
            if event.step_failure_data.error is not None:
                return event.step_failure_data.error.message.strip()
    return "the lift run failed; see it in the Dagster UI"


def definitions(settings: Settings) -> Definitions:
    return Definitions(jobs=[lift_restriction_job])
