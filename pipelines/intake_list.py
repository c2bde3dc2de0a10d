"""The Launchpad's list form: many people, one request each, checked as ``--from-csv`` checks.

The people are turned into the rows ``dsr.bulk_intake`` checks and registers, so the form gets
exactly the CLI's bulk checks. Fulfilment is left to the pending-requests sensor: it batches
what waits into ``access_batch`` / ``erasure_batch`` runs once this run has ended (it holds
back Launchpad requests while an intake run without a request id is still working).

Nothing about a person leaves the run config: the run is tagged with each person's keyed hash,
its logs and metadata carry positions, counts, reasons and request ids.
"""

import re
from collections import Counter
from collections.abc import Sequence

from dagster import MetadataValue, OpExecutionContext, in_process_executor, job, op

from connectors.crm.datamap import DataMapError
from dsr.bulk_intake import check_rows, numbered_rows, register_rows
from dsr.intake_request import IntakeError, IntakeRequest
from dsr.ledger import RequestRecord, RequestType, Scope
from pipelines.config import ListIntakeConfig, ListKind, Person
from pipelines.intake_form import refusal, tag_people
from pipelines.intake_names import LIST_INTAKE_JOB, REGISTERED_TAG
from pipelines.partitions import add_request_partitions
from pipelines.request_state import launch_blocker
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource

_TYPES = {
    ListKind.access: RequestType.ACCESS,
    ListKind.portability: RequestType.PORTABILITY,
    ListKind.erasure: RequestType.ERASURE,
    ListKind.opt_out: RequestType.OPT_OUT,
}


def _cells(person: Person) -> dict[str, str]:
    """The person as a CSV row (dsr.bulk_intake's column names)."""
    return {
        "email": person.email,
        "phone": person.phone,
        "name": person.name,
        "scope": person.scope.value if person.scope else "",
        "client": person.client,
        "authorization": person.authorization_ref,
        "ticket": person.ticket_ref,
        "verified_by": person.identity_verified_by,
    }


def _template(config: ListIntakeConfig) -> IntakeRequest:
    """The form's shared fields: what a person's empty field takes."""
    return IntakeRequest(
        type=_TYPES[config.kind],
        emails=[],
        scope=Scope(config.scope.value),
        client_id=config.client.strip() or None,
        authorization_ref=config.authorization_ref.strip() or None,
        ticket_ref=config.ticket_ref.strip() or None,
        verified_by=config.identity_verified_by.strip() or None,
        channel="launchpad",
    )


def short_reason(reason: str) -> str:
    """The reason's gist, for counting alike reasons: 'e-mail is not a valid address'."""
    flat = " ".join(reason.split())
    flat = re.sub(r"^(e-mail|phone|name)( #\d+)?: ", "", flat)  # parse_identities' prefix
    return re.split(r": |\. ", flat, maxsplit=1)[0].rstrip(".")


def _without(reason: str, person: Person) -> str:
    """A reason never repeats what was typed for the person (metadata is no place for it)."""
    for value in (person.email, person.phone, person.name):
        if len(value.strip()) >= 3:
            reason = reason.replace(value.strip(), "…")
    return " ".join(reason.split())


def _table(
    size: int, registered: dict[int, RequestRecord], rejected: dict[int, str]
) -> MetadataValue:
    lines = ["| person | outcome | request id or reason |", "|---|---|---|"]
    for position in range(1, size + 1):
        if position in registered:
            lines.append(f"| {position} | registered | {registered[position].request_id} |")
        elif position in rejected:
            reason = rejected[position].replace("|", "\\|")
            lines.append(f"| {position} | rejected | {reason} |")
    return MetadataValue.md("\n".join(lines))


def _refuse_all(people: Sequence[Person], rejected: dict[int, str]) -> None:
    first = min(rejected)
    reason = (
        f"all {len(people)} people on the list were refused (person {first}: "
        f"{short_reason(rejected[first])}); this step's metadata gives each reason"
    )
    raise refusal(
        "Nothing registered",
        reason,
        "people",
        {
            "rejected": len(rejected),
            "rejected_by_reason": MetadataValue.json(_counts(rejected)),
            "people": _table(len(people), {}, rejected),
        },
    ) from None


def _counts(rejected: dict[int, str]) -> dict[str, int]:
    return dict(Counter(short_reason(r) for r in rejected.values()).most_common())


@op(description="Check every person on the list; register one request each for those that pass")
def register_request_list(
    context: OpExecutionContext,
    config: ListIntakeConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
) -> None:
    people = config.people
    tag_people(context, ledger.key_ring(), [p.email for p in people])
    if not people:
        reason = "the list has no person: add each under people, e.g. [{email: a@example.com}]"
        raise refusal("Nothing registered", reason, "people") from None
    try:
        good, bad = check_rows(
            crm.connectors(),
            numbered_rows([_cells(p) for p in people]),
            _template(config),
            default_region=crm.default_phone_region,
        )
    except (IntakeError, DataMapError) as exc:
        raise refusal("Nothing registered", str(exc)) from None
    rejected = {position: _without(reason, people[position - 1]) for position, reason in bad}
    if not good:
        _refuse_all(people, rejected)
    records = register_rows(ledger.ledger(), good)
    context.instance.add_run_tags(context.run.run_id, {REGISTERED_TAG: str(len(records))})
    add_request_partitions(context.instance, records)
    registered = {position: record for (position, _, _), record in zip(good, records, strict=True)}
    waiting = [r for r in records if launch_blocker(r) is not None]
    context.log.info(
        f"{len(people)} people: {len(records)} {_TYPES[config.kind]} requests registered, "
        f"{len(rejected)} refused (positions and reasons in this step's metadata)"
    )
    if waiting:
        context.log.warning(
            f"{len(waiting)} of them wait for identity verification before they can run "
            "(dsr verify-identity REQUEST_ID --by STAFF)"
        )
    if len(waiting) < len(records):
        context.log.info(
            "the pending-requests sensor launches their fulfilment, in batch runs, within 15 s "
            "of this run's end"
        )
    context.add_output_metadata(
        {
            "registered": len(records),
            "rejected": len(rejected),
            "rejected_by_reason": MetadataValue.json(_counts(rejected)),
            "waiting_for_verification": len(waiting),
            "request_ids": MetadataValue.json([r.request_id for r in records]),
            "people": _table(len(people), registered, rejected),
        }
    )


@job(
    name=LIST_INTAKE_JOB,
    executor_def=in_process_executor,
    description="Support's list form: register one access, portability, erasure or opt-out "
    "request per person on a list.",
)
def register_request_list_job() -> None:
    register_request_list()
