"""The Launchpad's way in: a typed form that registers a request, nothing more.

The form's identity lives only in this run's config; the fulfilment run that the sensor launches
carries the request id alone.
"""

from dagster import Failure, OpExecutionContext, in_process_executor, job, op

from dsr.intake import IntakeError, IntakeRequest, register_request
from dsr.ledger import RequestType, Scope
from pipelines.config import AccessIntakeConfig
from pipelines.partitions import REQUESTS_PARTITIONS_NAME
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource

REQUEST_ID_TAG = "dsr/request_id"


@op(description="Validate the form and register the request in the ledger")
def register_access_request(
    context: OpExecutionContext,
    config: AccessIntakeConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
) -> None:
    intake = IntakeRequest(
        type=RequestType.PORTABILITY if config.portability else RequestType.ACCESS,
        emails=[config.email, *config.other_emails],
        phones=[config.phone] if config.phone.strip() else [],
        names=[config.name] if config.name.strip() else [],
        scope=Scope(config.scope.value),
        client_id=config.client_id or None,
        authorization_ref=config.authorization_ref or None,
        ticket_ref=config.ticket_ref or None,
        channel="launchpad",
    )
    try:
        record = register_request(
            ledger.ledger(), crm.connectors(), intake, default_region=crm.default_phone_region
        )
    except IntakeError as exc:
        raise Failure(description=f"Request not registered: {exc}") from None
    context.instance.add_dynamic_partitions(REQUESTS_PARTITIONS_NAME, [record.request_id])
    context.instance.add_run_tags(context.run_id, {REQUEST_ID_TAG: record.request_id})
    context.log.info(
        f"registered {record.type} request {record.request_id} (due {record.due_at:%Y-%m-%d}); "
        "the pending-requests sensor launches its fulfilment"
    )
    context.add_output_metadata(
        {"request_id": record.request_id, "due_at": record.due_at.isoformat()}
    )


@job(
    executor_def=in_process_executor,
    description="Support's intake form: register an access or portability request.",
)
def register_access_request_job() -> None:
    register_access_request()
