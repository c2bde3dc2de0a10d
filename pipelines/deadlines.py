"""Deadline alerts: open requests due within a few days, or overdue, fail a check in the UI.

Art. 12(3) gives one month; an opt-out gets ten business days. A sensor looks at the ledger every
ten minutes and launches ``watch_deadlines`` when the set of late requests changes, and once a
day while any remain, so the asset's checks always show today's answer and the webhook is not
flooded.
"""

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSelection,
    Config,
    DefaultSensorStatus,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    RunConfig,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    sensor,
)
from pydantic import Field

from dsr.alerts import AlertDeliveryError, alert_payload
from dsr.ledger.deadlines import DeadlineAlert, Urgency, late_requests
from dsr.ledger.records import OPEN_STATES
from dsr.settings import Settings
from dsr.times import parse_aware
from resources.alerts import AlertsResource
from resources.ledger import LedgerResource

ASSET = "request_deadlines"
OVERDUE_CHECK = "no_request_overdue"
DUE_SOON_CHECK = "no_request_due_soon"


class DeadlineWatchConfig(Config):
    checked_at: str = Field(
        default="",
        description="ISO date-time to judge deadlines at (the sensor passes its tick's time); "
        "empty: now",
    )


def _line(a: DeadlineAlert) -> str:
    late = (
        f"{-a.hours_left} h overdue" if a.urgency is Urgency.OVERDUE else f"{a.hours_left} h left"
    )
    return f"{a.request_id} ({a.type}, {a.state}) due {a.due_at:%Y-%m-%d %H:%M} UTC: {late}"


def _check(
    name: str, alerts: list[DeadlineAlert], severity: AssetCheckSeverity
) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=name,
        passed=not alerts,
        severity=severity,
        metadata={
            "requests": len(alerts),
            "request_ids": MetadataValue.json([a.request_id for a in alerts]),
        },
    )


@asset(
    name=ASSET,
    group_name="deadlines",
    kinds={"python"},
    check_specs=[
        AssetCheckSpec(
            OVERDUE_CHECK,
            asset=ASSET,
            description="No open request is past its due date (Art. 12(3), opt-out 10 days).",
        ),
        AssetCheckSpec(
            DUE_SOON_CHECK,
            asset=ASSET,
            description="No open request is due within the warning window "
            "(DSR_DEADLINE_WARN_DAYS).",
        ),
    ],
    description="Open requests judged against their due dates; late ones fail a check, are "
    "logged and posted to the alert webhook.",
)
def request_deadlines(
    context: AssetExecutionContext,
    config: DeadlineWatchConfig,
    ledger: LedgerResource,
    alerts: AlertsResource,
) -> Iterator[MaterializeResult]:
    now = parse_aware(config.checked_at, "checked_at") or datetime.now(UTC)
    led = ledger.ledger()
    found = late_requests(led, now, alerts.warn_days)
    open_requests = led.count_requests(states=OPEN_STATES)
    overdue = [a for a in found if a.urgency is Urgency.OVERDUE]
    soon = [a for a in found if a.urgency is Urgency.DUE_SOON]
    for a in overdue:
        context.log.error(f"OVERDUE {_line(a)}")
    for a in soon:
        context.log.warning(f"due soon: {_line(a)}")
    delivery, failure = "nothing to send", None
    if found:
        try:
            sent = alerts.send(alert_payload(found, now, alerts.warn_days))
            delivery = "delivered" if sent else "no webhook configured"
        except AlertDeliveryError as exc:
            delivery, failure = "failed", exc
            context.log.error(f"deadline alert not delivered: {exc}")
    context.log.info(
        f"{open_requests} open requests at {now:%Y-%m-%d %H:%M} UTC: {len(overdue)} overdue, "
        f"{len(soon)} due within {alerts.warn_days} days; webhook: {delivery}"
    )
    yield MaterializeResult(
        metadata={
            "checked_at": now.isoformat(),
            "open_requests": open_requests,
            "overdue": len(overdue),
            "due_soon": len(soon),
            "warn_days": alerts.warn_days,
            "webhook": delivery,
            "alerts": MetadataValue.json([a.as_dict() for a in found]),
        },
        check_results=[
            _check(OVERDUE_CHECK, overdue, AssetCheckSeverity.ERROR),
            _check(DUE_SOON_CHECK, soon, AssetCheckSeverity.WARN),
        ],
    )
    if failure is not None:
        # The checks are recorded; the run still fails so an undelivered alert is not missed.
        raise Failure(f"deadline alert not delivered: {failure}")


watch_deadlines = define_asset_job(
    "watch_deadlines",
    selection=AssetSelection.assets(ASSET),
    executor_def=in_process_executor,
    description="Judge every open request against its due date; alert on late ones.",
)


def _fingerprint(alerts: list[DeadlineAlert]) -> str:
    text = ",".join(f"{a.request_id}:{a.urgency.value}" for a in alerts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@sensor(
    name="deadline_watch",
    job=watch_deadlines,
    minimum_interval_seconds=600,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches watch_deadlines when requests become due soon or overdue, when that "
    "set changes, and once a day while any remain.",
)
def deadline_watch(
    context: SensorEvaluationContext, ledger: LedgerResource, alerts: AlertsResource
) -> RunRequest | SkipReason:
    now = datetime.now(UTC)
    found = late_requests(ledger.ledger(), now, alerts.warn_days)
    key = f"{now:%Y-%m-%d}:{_fingerprint(found)}"
    previous = context.cursor or ""
    if key == previous:
        return SkipReason("no change since the last alert run today")
    if not found and (not previous or previous.endswith(_fingerprint([]))):
        context.update_cursor(key)
        return SkipReason(f"no open request is due within {alerts.warn_days} days")
    context.update_cursor(key)
    return RunRequest(
        run_key=key,
        run_config=RunConfig(ops={ASSET: DeadlineWatchConfig(checked_at=now.isoformat())}),
    )


def definitions(settings: Settings) -> Definitions:
    return Definitions(assets=[request_deadlines], jobs=[watch_deadlines], sensors=[deadline_watch])
