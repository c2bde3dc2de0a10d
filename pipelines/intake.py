"""The Launchpad's ways in: typed forms that register a request, nothing more.

The form's identity lives only in the intake run's config (deleted after an erasure); the
fulfilment run the sensor launches carries the request id alone.
"""

from dagster import MetadataValue, OpExecutionContext, in_process_executor, job, op

from connectors.crm.datamap import DataMapError
from connectors.services import ServiceError
from dsr.intake import IntakeError, IntakeRequest, check_intake, register_request
from dsr.ledger import RequestRecord, RequestType, Scope
from dsr.preview import dry_run
from pipelines.config import (
    AccessIntakeConfig,
    AccessKind,
    ErasureIntakeConfig,
    IntakeConfig,
    OptOutIntakeConfig,
    RectificationIntakeConfig,
    RestrictionIntakeConfig,
)
from pipelines.handoff import start_fulfilment
from pipelines.intake_form import refusal, tag_subject
from pipelines.intake_names import (
    ACCESS_INTAKE_JOB,
    ERASURE_INTAKE_JOB,
    OPT_OUT_INTAKE_JOB,
    RECTIFICATION_INTAKE_JOB,
    REQUEST_ID_TAG,
    RESTRICTION_INTAKE_JOB,
)
from pipelines.partitions import add_request_partitions
from resources.crm import CrmDatabasesResource
from resources.integrations import IntegrationsResource
from resources.ledger import LedgerResource


def _emails(config: IntakeConfig) -> list[str]:
    return [config.email, *config.other_emails]


def _intake(config: IntakeConfig, type: RequestType, **extra: object) -> IntakeRequest:
    return IntakeRequest(
        type=type,
        emails=[config.email, *config.other_emails],
        phones=[config.phone] if config.phone.strip() else [],
        names=[config.name] if config.name.strip() else [],
        scope=Scope(config.scope.value),
        client_id=config.client.strip() or None,
        authorization_ref=config.authorization_ref or None,
        ticket_ref=config.ticket_ref or None,
        channel="launchpad",
        **extra,  # type: ignore[arg-type]
    )


def _register(
    context: OpExecutionContext,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
    intake: IntakeRequest,
) -> RequestRecord:
    try:
        record = register_request(
            ledger.ledger(), crm.connectors(), intake, default_region=crm.default_phone_region
        )
    except (IntakeError, DataMapError) as exc:
        raise refusal("Request not registered", str(exc)) from None
    add_request_partitions(context.instance, [record])
    context.instance.add_run_tags(context.run.run_id, {REQUEST_ID_TAG: record.request_id})
    metadata: dict[str, object] = {
        "request_id": record.request_id,
        "due_at": record.due_at.isoformat(),
        **start_fulfilment(context, record, crm.regions),
    }
    context.add_output_metadata(metadata)
    return record


@op(description="Validate the form and register the access request in the ledger")
def register_access_request(
    context: OpExecutionContext,
    config: AccessIntakeConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
) -> None:
    tag_subject(context, ledger.key_ring(), _emails(config))
    rtype = RequestType.PORTABILITY if config.kind is AccessKind.portability else RequestType.ACCESS
    _register(context, crm, ledger, _intake(config, rtype))


@op(description="Validate the form; register the erasure request, or preview it (dry run)")
def register_erasure_request(
    context: OpExecutionContext,
    config: ErasureIntakeConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
    integrations: IntegrationsResource,
) -> None:
    tag_subject(context, ledger.key_ring(), _emails(config))
    intake = _intake(config, RequestType.ERASURE, verified_by=config.identity_verified_by or None)
    if not config.dry_run:
        _register(context, crm, ledger, intake)
        return
    try:
        connectors = crm.connectors()
        # As registration checks it, and by the checked Client id (a name matches no row).
        checked = check_intake(connectors, intake, default_region=crm.default_phone_region)
    except (IntakeError, DataMapError) as exc:
        raise refusal("Nothing previewed", str(exc)) from None
    try:
        plan = dry_run(
            crm,
            integrations,
            checked.identities,
            scope=intake.scope,
            client_id=checked.client_id,
            hasher=ledger.key_ring().keyed_hash,
            connectors=connectors,
        )
    except ServiceError as exc:
        raise refusal("Nothing previewed", f"a service was not searched: {exc}") from None
    context.log.info(
        f"dry run: nothing registered or changed; {len(plan.plan())} systems in the plan "
        "(the table is in this step's metadata)"
    )
    context.add_output_metadata(
        {
            "dry_run": True,
            "plan": MetadataValue.md(plan.markdown()),
            "services": MetadataValue.json(plan.statuses()),
        }
    )


@op(description="Validate the form and the corrections; register the rectification request")
def register_rectification_request(
    context: OpExecutionContext,
    config: RectificationIntakeConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
) -> None:
    from connectors.crm.rectify import RectifyError, parse_changes

    tag_subject(context, ledger.key_ring(), _emails(config))
    if not config.changes:
        raise refusal("Request not registered", "no correction given", "changes") from None
    try:
        changes = parse_changes(
            crm.datamap(), config.changes, default_region=crm.default_phone_region
        )
    except RectifyError as exc:
        raise refusal("Request not registered", str(exc), "changes") from None
    intake = _intake(
        config,
        RequestType.RECTIFICATION,
        verified_by=config.identity_verified_by or None,
        payload={"changes": changes},
    )
    _register(context, crm, ledger, intake)


@job(
    name=ACCESS_INTAKE_JOB,
    executor_def=in_process_executor,
    description="Support's form: register an access or portability request.",
)
def register_access_request_job() -> None:
    register_access_request()


@job(
    name=ERASURE_INTAKE_JOB,
    executor_def=in_process_executor,
    description="Support's form: register (or dry-run) an erasure request.",
)
def register_erasure_request_job() -> None:
    register_erasure_request()


@job(
    name=RECTIFICATION_INTAKE_JOB,
    executor_def=in_process_executor,
    description="Support's form: register a rectification request.",
)
def register_rectification_request_job() -> None:
    register_rectification_request()


@op(description="Validate the form and register the marketing opt-out")
def register_opt_out_request(
    context: OpExecutionContext,
    config: OptOutIntakeConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
) -> None:
    tag_subject(context, ledger.key_ring(), _emails(config))
    _register(context, crm, ledger, _intake(config, RequestType.OPT_OUT))


@op(description="Validate the form and register the restriction of processing")
def register_restriction_request(
    context: OpExecutionContext,
    config: RestrictionIntakeConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
) -> None:
    tag_subject(context, ledger.key_ring(), _emails(config))
    if config.grounds is None:
        reason = "choose the grounds of the restriction (Art. 18(1) a-d)"
        raise refusal("Request not registered", reason, "grounds") from None
    intake = _intake(
        config,
        RequestType.RESTRICTION,
        verified_by=config.identity_verified_by or None,
        payload={"grounds": config.grounds.value},
    )
    _register(context, crm, ledger, intake)


@job(
    name=OPT_OUT_INTAKE_JOB,
    executor_def=in_process_executor,
    description="Support's form: register a marketing opt-out (due in 10 business days).",
)
def register_opt_out_request_job() -> None:
    register_opt_out_request()


@job(
    name=RESTRICTION_INTAKE_JOB,
    executor_def=in_process_executor,
    description="Support's form: register a restriction of processing (Art. 18 / 21).",
)
def register_restriction_request_job() -> None:
    register_restriction_request()


INTAKE_JOB_DEFS = [
    register_access_request_job,
    register_erasure_request_job,
    register_rectification_request_job,
    register_opt_out_request_job,
    register_restriction_request_job,
]
