"""Minors (policy 10): a daily check registers an erasure for every under-age User without consent.

The check only registers: each minor becomes an ordinary ``user_account`` erasure request
(channel ``schedule``, identity verified by the check itself, since the account's own record is
the evidence) that the ``pending_requests`` sensor launches, so the erasure, its verification and
its signed proof are the normal ones. A minor with an open or fulfilled erasure request (same
subject hash) is not registered again. Nothing personal reaches the run: counts and request ids.
"""

from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    Config,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    MaterializeResult,
    RunConfig,
    RunRequest,
    ScheduleEvaluationContext,
    asset,
    define_asset_job,
    in_process_executor,
    schedule,
)
from pydantic import Field

from connectors.base import EMAIL, Identity
from connectors.crm.minors import MinorsFound, find_minors
from dsr.ledger import Ledger, RequestType, Scope, State
from dsr.ledger.audit import check_no_personal_data
from dsr.ledger.records import now
from dsr.settings import Settings
from pipelines.ticks import tick_time
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource

MINORS_JOB = "minors_check_job"
TICKET_REF = "policy-10 minors check"


class MinorsCheckConfig(Config):
    check_date: str = Field(
        default="",
        description="The day whose ages count (YYYY-MM-DD, UTC); empty: today. The schedule "
        "passes the day it runs for.",
    )


def check_day(text: str) -> date:
    if not text.strip():
        return now().date()
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Failure(
            description="check_date must be a date written YYYY-MM-DD (e.g. 2026-11-25); "
            "nothing was checked or registered"
        ) from None


def _erasure_subjects(led: Ledger) -> set[str]:
    # Refused requests do not count: a minor whose erasure was refused is still a minor.
    return {
        r.subject_hash
        for r in led.list_requests()
        if r.type == RequestType.ERASURE and r.state != State.REFUSED
    }


@asset(
    group_name="minors",
    kinds={"sql"},
    description="Policy 10: Users under 18 without parental consent, in every region; an "
    "erasure request is registered for each (counts and request ids only).",
)
def minors_check(
    context: AssetExecutionContext,
    config: MinorsCheckConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
) -> MaterializeResult:
    on = check_day(config.check_date)
    connectors = crm.connectors()
    for connector in connectors:
        connector.validate()
    found: list[MinorsFound] = [find_minors(connector, on) for connector in connectors]
    led = ledger.ledger()
    keys = ledger.key_ring()
    requested = _erasure_subjects(led)
    registered: list[str] = []
    per_region: dict[str, dict[str, int]] = {}
    for region_found in found:
        counts = {
            "minors_without_consent": len(region_found.minors),
            "minors_with_consent": sum(region_found.with_consent.values()),
            "registered": 0,
            "already_requested": 0,
            "held_by_restriction": 0,
            "without_email": 0,
        }
        for minor in region_found.minors:
            if minor.restricted:
                # Art. 18(1)(c): kept for a legal claim; staff decide, the check does not erase.
                counts["held_by_restriction"] += 1
                continue
            if minor.email is None:
                counts["without_email"] += 1
                continue
            subject = keys.keyed_hash(EMAIL, minor.email)
            if subject in requested:
                counts["already_requested"] += 1
                continue
            entry = {
                "region": minor.region,
                "table": minor.table,
                "row_id": minor.pk,
                "check_date": on.isoformat(),
                "reason": "under the age of majority without recorded parental consent",
            }
            # Before registering: a request whose "minor_found" entry the ledger would refuse
            # must not exist without it.
            check_no_personal_data(entry)
            record = led.register(
                type=RequestType.ERASURE,
                scope=Scope.USER_ACCOUNT,
                identities=[Identity(EMAIL, minor.email)],
                ticket_ref=TICKET_REF,
                channel="schedule",
                identity_verified=True,
            )
            led.audit(record.request_id, "minor_found", entry)
            requested.add(subject)
            registered.append(record.request_id)
            counts["registered"] += 1
        per_region[f"crm:{region_found.region}"] = counts
    led.audit(None, "minors_checked", {"check_date": on.isoformat(), "per_region": per_region})
    context.log.info(
        f"minors check for {on}: {len(registered)} erasure requests registered "
        f"({', '.join(registered) or 'none'})"
    )
    unnamed = sum(c["without_email"] for c in per_region.values())
    if unnamed:
        raise Failure(
            description=f"{unnamed} minor(s) without parental consent have no usable e-mail, so "
            "no erasure could be registered for them: see the audit entry minors_checked and "
            "erase them by hand"
        )
    return MaterializeResult(
        metadata={
            "check_date": on.isoformat(),
            "registered": len(registered),
            "request_ids": registered,
            **per_region,
        }
    )


minors_check_job = define_asset_job(
    MINORS_JOB,
    selection=AssetSelection.assets(minors_check),
    executor_def=in_process_executor,
    description="Find Users under 18 without parental consent and register their erasure.",
)


@schedule(
    name="minors_daily",
    job=minors_check_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Daily at 04:00 UTC: the minors check for that day (policy 10).",
)
def minors_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    day = tick_time(context).date()
    return RunRequest(
        run_key=f"minors-{day.isoformat()}",
        run_config=RunConfig(ops={"minors_check": MinorsCheckConfig(check_date=day.isoformat())}),
        tags={"dsr/check_date": day.isoformat()},
    )


def definitions(settings: Settings) -> Definitions:
    return Definitions(
        assets=[minors_check],
        jobs=[minors_check_job],
        schedules=[minors_schedule],
    )
