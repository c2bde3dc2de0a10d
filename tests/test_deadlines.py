"""Deadline alerts: due-soon and overdue requests fail a check, are logged and reach the webhook.

Time is frozen (time-machine) around Dagster's own sensor evaluation, so the month-end and
five-day boundaries are exact; the asset is judged at the time the sensor hands it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from dagster import (
    AssetCheckSeverity,
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_sensor_context,
    materialize,
)
from pytest_httpserver import HTTPServer
from werkzeug import Response

from connectors.base import Identity
from dsr.keys import KeyRing
from dsr.ledger import Ledger, RequestType, Scope, State
from dsr.ledger.deadlines import Urgency, deadline_alerts
from pipelines.deadlines import (
    DUE_SOON_CHECK,
    OVERDUE_CHECK,
    DeadlineWatchConfig,
    deadline_watch,
    request_deadlines,
)
from resources.alerts import AlertsResource
from resources.ledger import LedgerResource

EMAIL = "maria.jensen@example.org"
JAN31 = datetime(2027, 1, 31, 9, tzinfo=UTC)  # due Feb 28 09:00 (month end, not a leap year)


@pytest.fixture
def ledger_resource(db_url: str, keys: KeyRing) -> LedgerResource:
    return LedgerResource(url=db_url, keys_dir=str(keys.keys_dir))


@pytest.fixture
def ledger(ledger_resource: LedgerResource) -> Ledger:
    return ledger_resource.ledger()


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as inst:
        yield inst


def register(ledger: Ledger, received: datetime, type: RequestType = RequestType.ACCESS) -> str:
    return ledger.register(
        type=type,
        scope=Scope.USER_ACCOUNT,
        identities=[Identity("email", EMAIL)],
        received_at=received,
    ).request_id


def urgency_at(ledger: Ledger, when: datetime, warn_days: int = 5) -> dict[str, Urgency]:
    return {
        a.request_id: a.urgency for a in deadline_alerts(ledger.list_requests(), when, warn_days)
    }


def test_five_days_before_a_month_end_due_date(ledger: Ledger) -> None:
    rid = register(ledger, JAN31)
    assert ledger.get(rid).due_at == datetime(2027, 2, 28, 9, tzinfo=UTC)
    assert urgency_at(ledger, datetime(2027, 2, 23, 8, 59, tzinfo=UTC)) == {}
    assert urgency_at(ledger, datetime(2027, 2, 23, 9, tzinfo=UTC)) == {rid: Urgency.DUE_SOON}
    assert urgency_at(ledger, datetime(2027, 2, 28, 9, tzinfo=UTC)) == {rid: Urgency.DUE_SOON}
    assert urgency_at(ledger, datetime(2027, 2, 28, 9, 1, tzinfo=UTC)) == {rid: Urgency.OVERDUE}
    # A configurable window: with 10 days' warning the alert starts on Feb 18.
    assert urgency_at(ledger, datetime(2027, 2, 18, 9, tzinfo=UTC), warn_days=10) == {
        rid: Urgency.DUE_SOON
    }


def test_an_opt_out_is_due_in_ten_business_days_across_weekends(ledger: Ledger) -> None:
    friday = datetime(2027, 1, 29, 15, tzinfo=UTC)
    rid = register(ledger, friday, type=RequestType.OPT_OUT)
    # Two weekends skipped: business day 10 is Friday Feb 12, not Monday Feb 8.
    assert ledger.get(rid).due_at == datetime(2027, 2, 12, 15, tzinfo=UTC)
    assert urgency_at(ledger, datetime(2027, 2, 7, 14, 59, tzinfo=UTC)) == {}
    assert urgency_at(ledger, datetime(2027, 2, 7, 15, tzinfo=UTC)) == {rid: Urgency.DUE_SOON}
    assert urgency_at(ledger, datetime(2027, 2, 12, 15, 1, tzinfo=UTC)) == {rid: Urgency.OVERDUE}


def test_closed_requests_never_alert_and_failed_ones_do(ledger: Ledger) -> None:
    done, failed = register(ledger, JAN31), register(ledger, JAN31)
    for rid in (done, failed):
        ledger.claim(rid)
    ledger.transition(done, State.FULFILLED, result={"rows": 1})
    ledger.transition(failed, State.FAILED, reason="us CRM unreachable")
    late = datetime(2027, 3, 5, tzinfo=UTC)
    assert urgency_at(ledger, late) == {failed: Urgency.OVERDUE}


def test_a_notified_extension_moves_the_deadline_and_silences_the_alert(ledger: Ledger) -> None:
    rid = register(ledger, JAN31)
    soon = datetime(2027, 2, 24, tzinfo=UTC)
    assert urgency_at(ledger, soon) == {rid: Urgency.DUE_SOON}
    ledger.extend(rid, months=1, reason="five regions", notified_via="SUP-88", at=soon)
    assert urgency_at(ledger, soon) == {}
    assert urgency_at(ledger, datetime(2027, 3, 27, tzinfo=UTC)) == {rid: Urgency.DUE_SOON}


def evaluate(
    instance: DagsterInstance,
    ledger_resource: LedgerResource,
    alerts: AlertsResource,
    when: datetime,
    cursor: str | None,
) -> tuple[RunRequest | SkipReason, str | None]:
    with time_machine.travel(when, tick=False):
        context = build_sensor_context(
            instance=instance,
            cursor=cursor,
            resources={"ledger": ledger_resource, "alerts": alerts},
        )
        result = deadline_watch(context)
    assert isinstance(result, RunRequest | SkipReason)
    return result, context.cursor


def test_sensor_launches_on_change_and_once_a_day(
    instance: DagsterInstance, ledger_resource: LedgerResource, ledger: Ledger
) -> None:
    alerts = AlertsResource()
    rid = register(ledger, JAN31)
    quiet = datetime(2027, 2, 20, 12, tzinfo=UTC)
    result, cursor = evaluate(instance, ledger_resource, alerts, quiet, None)
    assert isinstance(result, SkipReason) and "due within 5 days" in (result.skip_message or "")

    first = datetime(2027, 2, 23, 9, 5, tzinfo=UTC)
    result, cursor = evaluate(instance, ledger_resource, alerts, first, cursor)
    assert isinstance(result, RunRequest)
    config = result.run_config["ops"]["request_deadlines"]["config"]
    assert config == {"checked_at": first.isoformat()}
    assert EMAIL not in json.dumps(result.run_config)

    # Ten minutes later nothing changed: no second run (and no second webhook post) today.
    result, cursor = evaluate(
        instance, ledger_resource, alerts, first + timedelta(minutes=10), cursor
    )
    assert isinstance(result, SkipReason)
    # Next morning the reminder comes again; after the due date it turns overdue the same day.
    result, cursor = evaluate(instance, ledger_resource, alerts, first + timedelta(days=1), cursor)
    assert isinstance(result, RunRequest)
    overdue = datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    result, cursor = evaluate(instance, ledger_resource, alerts, overdue, cursor)
    assert isinstance(result, RunRequest) and result.run_key != f"{first:%Y-%m-%d}"

    # Once fulfilled, one more run clears the failed checks; then the sensor is quiet.
    ledger.claim(rid)
    ledger.transition(rid, State.FULFILLED, result={"rows": 0})
    result, cursor = evaluate(
        instance, ledger_resource, alerts, overdue + timedelta(hours=1), cursor
    )
    assert isinstance(result, RunRequest)
    result, cursor = evaluate(
        instance, ledger_resource, alerts, overdue + timedelta(hours=2), cursor
    )
    assert isinstance(result, SkipReason)


def run_watch(
    ledger_resource: LedgerResource, alerts: AlertsResource, when: datetime
) -> tuple[bool, dict[str, tuple[bool, AssetCheckSeverity]], dict[str, object], str]:
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [request_deadlines],
            resources={"ledger": ledger_resource, "alerts": alerts},
            run_config={"ops": {"request_deadlines": {"config": {"checked_at": when.isoformat()}}}},
            raise_on_error=False,
            instance=instance,
        )
        # What the UI shows: the run's log lines and events, as stored.
        text = " ".join(e.user_message or "" for e in instance.all_logs(result.run_id))
    checks = {e.check_name: (e.passed, e.severity) for e in result.get_asset_check_evaluations()}
    materialized = result.asset_materializations_for_node("request_deadlines")
    metadata = {k: v.value for k, v in materialized[0].metadata.items()} if materialized else {}
    return result.success, checks, metadata, text


def test_overdue_and_due_soon_fail_their_checks_and_reach_the_webhook(
    ledger_resource: LedgerResource, ledger: Ledger, httpserver: HTTPServer
) -> None:
    late = register(ledger, datetime(2027, 1, 20, tzinfo=UTC))  # due Feb 20
    soon = register(ledger, JAN31)  # due Feb 28
    register(ledger, datetime(2027, 2, 20, tzinfo=UTC))  # due Mar 20: fine
    httpserver.expect_request("/hooks/dsr", method="POST").respond_with_data("ok")
    alerts = AlertsResource(webhook_url=httpserver.url_for("/hooks/dsr"))

    ok, checks, metadata, text = run_watch(
        ledger_resource, alerts, datetime(2027, 2, 24, tzinfo=UTC)
    )
    assert ok
    assert checks[OVERDUE_CHECK] == (False, AssetCheckSeverity.ERROR)
    assert checks[DUE_SOON_CHECK] == (False, AssetCheckSeverity.WARN)
    assert metadata["overdue"] == 1 and metadata["due_soon"] == 1 and metadata["open_requests"] == 3
    assert metadata["webhook"] == "delivered"
    assert f"OVERDUE {late}" in text and soon in text
    (request, _), *_ = httpserver.log
    body = request.get_json()
    assert [a["request_id"] for a in body["overdue"]] == [late]
    assert [a["request_id"] for a in body["due_soon"]] == [soon]
    assert "1 data-subject request(s) overdue" in body["text"]
    assert EMAIL not in request.get_data(as_text=True) and EMAIL not in text


def test_all_checks_pass_when_nothing_is_late(
    ledger_resource: LedgerResource, ledger: Ledger, httpserver: HTTPServer
) -> None:
    register(ledger, JAN31)
    alerts = AlertsResource(webhook_url=httpserver.url_for("/hooks/dsr"))
    ok, checks, metadata, _ = run_watch(ledger_resource, alerts, datetime(2027, 2, 1, tzinfo=UTC))
    assert ok and all(passed for passed, _ in checks.values())
    assert metadata["webhook"] == "nothing to send" and not httpserver.log


def test_an_unreachable_webhook_fails_the_run_but_keeps_the_checks(
    ledger_resource: LedgerResource, ledger: Ledger, httpserver: HTTPServer
) -> None:
    register(ledger, datetime(2027, 1, 20, tzinfo=UTC))
    httpserver.expect_request("/hooks/dsr").respond_with_response(Response("down", status=503))
    alerts = AlertsResource(webhook_url=httpserver.url_for("/hooks/dsr"))
    ok, checks, metadata, text = run_watch(
        ledger_resource, alerts, datetime(2027, 2, 24, tzinfo=UTC)
    )
    assert not ok
    assert checks[OVERDUE_CHECK][0] is False
    assert metadata["webhook"] == "failed" and "HTTP 503" in text
    assert len(httpserver.log) == 3  # retried, then given up loudly


def test_a_webhook_that_refuses_is_not_retried(
    ledger_resource: LedgerResource, ledger: Ledger, httpserver: HTTPServer
) -> None:
    register(ledger, datetime(2027, 1, 20, tzinfo=UTC))
    httpserver.expect_request("/hooks/dsr").respond_with_response(Response("no", status=404))
    alerts = AlertsResource(webhook_url=httpserver.url_for("/hooks/dsr"))
    ok, _, _, text = run_watch(ledger_resource, alerts, datetime(2027, 2, 24, tzinfo=UTC))
    assert not ok and "refused the alert: HTTP 404" in text and len(httpserver.log) == 1


def test_checked_at_without_a_time_zone_is_refused(
    ledger_resource: LedgerResource, tmp_path: Path
) -> None:
    with pytest.raises(Exception, match="time zone"):
        materialize(
            [request_deadlines],
            resources={"ledger": ledger_resource, "alerts": AlertsResource()},
            run_config={"ops": {"request_deadlines": {"config": {"checked_at": "2027-02-24"}}}},
        )
    assert DeadlineWatchConfig().checked_at == ""


def test_cli_lists_late_requests_and_fails_when_one_is_overdue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from dsr.cli.main import app
    from dsr.settings import Settings

    monkeypatch.setenv("DSR_HOME", str(tmp_path / "home"))
    settings = Settings.from_env()
    settings.ensure_dirs()
    ledger = LedgerResource(url=settings.ledger_url, keys_dir=str(settings.keys_dir)).ledger()
    now = datetime.now(UTC)
    soon = register(ledger, now - timedelta(days=28))
    runner = CliRunner()

    result = runner.invoke(app, ["deadlines", "--json"])
    payload = json.loads(result.stdout)
    assert result.exit_code == 0 and payload["ok"]
    assert [a["request_id"] for a in payload["alerts"]] == [soon]
    assert payload["alerts"][0]["urgency"] == "due_soon"

    # Telling the person late is refused; an extension on time silences the alert.
    result = runner.invoke(app, ["extend", soon, "--months", "1", "--reason", "many systems"])
    assert result.exit_code != 0 and "notified-via" in result.output
    ok = ["extend", soon, "--months", "1", "--reason", "five regions", "--notified-via", "SUP-4"]
    assert runner.invoke(app, ok).exit_code == 0
    assert json.loads(runner.invoke(app, ["deadlines", "--json"]).stdout)["alerts"] == []

    late = register(ledger, now - timedelta(days=40))
    result = runner.invoke(app, ["deadlines"])
    assert result.exit_code == 1 and late in result.stdout and soon not in result.stdout
    result = runner.invoke(
        app, ["extend", late, "--months", "1", "--reason", "x", "--notified-via", "SUP-5"]
    )
    assert result.exit_code == 2 and "too late to extend" in result.output
