"""GoToMeeting over real HTTP against the local stand-in: recall, precision, erasure with what is
requested from the processor, verification, idempotency, every fault mode, and the rate limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.base import EMAIL, Findings, Identity
from connectors.gotomeeting.connector import GoToMeetingConnector as Connector
from connectors.gotomeeting.connector import history_windows
from connectors.services import CredentialError, ServiceAccount, ServiceError
from standins.gotomeeting import GoToMeetingStandIn, seed_demo
from standins.server import Fault

MARIA = {Identity(EMAIL, "maria.jensen@example.org")}
TOM = {Identity(EMAIL, "tom.becker@example.net")}
REF = "subj_5f1c9a0e2b7d"  # a keyed subject reference as the pipeline would pass it
CREDENTIAL = "vault://integrations/us/northwind/gotomeeting"
ACCOUNT = ServiceAccount("2", "1", "us", "gotomeeting", "meetings@northwind.test", CREDENTIAL)
# Tiny waits and no client-side limit unless a test sets one: the tests stay fast.
FAST = {"backoff": 0.01, "max_wait": 1.0, "timeout": 2.0, "rate_per_second": 10_000.0}


@pytest.fixture
def standin() -> Iterator[GoToMeetingStandIn]:
    with GoToMeetingStandIn() as server:
        yield server


@pytest.fixture
def ids(standin: GoToMeetingStandIn) -> dict[str, int]:
    return seed_demo(standin)


def connect(standin: GoToMeetingStandIn, token: str | None = None, **options: Any) -> Connector:
    settings = {**FAST, "max_attempts": 3, "subject_ref": REF, **options}
    token = standin.token if token is None else token
    return Connector(ACCOUNT, token, base_url=standin.base_url, **settings)


def pks(findings: Findings, table: str) -> set[str]:
    return {r.ref.pk for r in findings.rows if r.ref.table == table}


def s(*meeting_ids: int) -> set[str]:
    return {str(m) for m in meeting_ids}


def test_finds_meetings_organised_and_attended(standin: GoToMeetingStandIn, ids: dict) -> None:
    found = connect(standin).find(MARIA)
    assert (found.system, found.region, found.subject) == ("gotomeeting", "us", REF)
    assert pks(found, "meetings") == s(ids["maria_upcoming"], ids["maria_past"])
    # The recurring meeting she is invited to shows through her past attendance; the one at 200
    # days only by walking the history windows back.
    assert pks(found, "attendance") == s(
        ids["renewal_review"], ids["pipeline_sync"], ids["q3_planning"]
    )
    rows = {(r.ref.table, r.ref.pk): r for r in found.rows}
    upcoming = rows[("meetings", str(ids["maria_upcoming"]))].data
    assert upcoming["upcoming"] and not upcoming["historical"]
    assert rows[("meetings", str(ids["maria_past"]))].data["historical"]
    review = rows[("attendance", "900000001")]
    assert review.via == "identity:attendee.attendeeEmail"
    [record] = review.data["records"]
    assert record["joinTime"] and record["leaveTime"] and record["attendeeName"] == "Maria Jensen"
    # Her attendee record only: the organizer's name and address in the same record are not hers.
    assert "email" not in record and "firstName" not in record


@pytest.mark.parametrize(
    "spelling",
    ["MARIA.JENSEN@EXAMPLE.ORG", " Maria.Jensen@Example.org ", "maria.jensen@example.org"],
)
def test_recall_over_case_variants(standin: GoToMeetingStandIn, ids: dict, spelling: str) -> None:
    # Stored as "Maria.Jensen@Example.org", " MARIA.JENSEN@example.org", "Maria.Jensen@example.org".
    found = connect(standin).find({Identity(EMAIL, spelling)})
    assert found.row_counts() == {"attendance": 3, "meetings": 2}


def test_precision_tom_and_others(standin: GoToMeetingStandIn, ids: dict) -> None:
    found = connect(standin).find(TOM)
    assert pks(found, "meetings") == s(ids["tom_upcoming"])
    assert pks(found, "attendance") == s(ids["renewal_review"], ids["without_maria"])
    assert connect(standin).find({Identity(EMAIL, "nobody@example.org")}).rows == []
    assert connect(standin).find({Identity("phone", "+14155550142")}).rows == []


def test_connected_account_address_is_not_a_person(standin: GoToMeetingStandIn, ids: dict) -> None:
    found = connect(standin).find({Identity(EMAIL, "meetings@northwind.test")})
    assert found.rows == [] and "meetings" in found.skipped_tables
    assert standin.requests == []


def test_erase_deletes_organised_upcoming_and_requests_the_rest(
    standin: GoToMeetingStandIn, ids: dict
) -> None:
    connector = connect(standin)
    tom_before = connector.find(TOM).rows
    result = connector.erase(connector.find(MARIA), MARIA)
    assert result.system == "gotomeeting" and result.account == "gotomeeting#2"
    assert result.applied == {"meetings": {"deleted": 1}}
    assert not standin.exists(ids["maria_upcoming"])
    # Only her upcoming meeting was deleted: not her past one (its history would stay), not the
    # recurring meeting she only attended, nothing of Tom's or anyone else's.
    deletes = [path for method, path in standin.requests if method == "DELETE"]
    assert deletes == [f"/G2M/rest/meetings/{ids['maria_upcoming']}"]
    for name in ("maria_past", "pipeline_sync", "renewal_review", "without_maria", "tom_upcoming"):
        assert standin.exists(ids[name])
    assert len(standin.meetings[900_000_001].sessions[0].attendees) == 3
    assert connector.find(TOM).rows == tom_before

    by_what = {p.what.split(" ")[0]: p for p in result.pending}
    assert set(by_what) == {"organiser", "attendee", "recordings,"}
    meetings_in = {
        what: p.request_text.split("Meeting ids: ")[1].split("\n")[0] for what, p in by_what.items()
    }
    assert meetings_in["organiser"] == str(ids["maria_past"])
    assert meetings_in["attendee"] == ", ".join(
        str(i) for i in sorted([ids["renewal_review"], ids["pipeline_sync"], ids["q3_planning"]])
    )
    recordings = meetings_in["recordings,"]
    assert "900000001" in recordings and str(ids["maria_past"]) in recordings
    for pending in result.pending:
        text = pending.request_text
        assert pending.system == "gotomeeting" and pending.requested_at
        assert f"Reference: {REF}" in text and "GoTo privacy team" in text
        assert f"GoTo account key: {standin.account_key}" in text
        assert "@" not in text and "jensen" not in text.lower() and "maria" not in text.lower()
    # Recordings are out of the API's reach: still there, and requested, never reported as done.
    assert standin.meetings[900_000_001].recorded


def test_verify_before_and_after(standin: GoToMeetingStandIn, ids: dict) -> None:
    connector = connect(standin)
    before = connector.verify(MARIA)
    assert not before.ok and before.remaining == {"meetings": 1}
    connector.erase(connector.find(MARIA), MARIA)
    after = connector.verify(MARIA)
    assert after.ok and after.remaining == {"meetings": 0}
    assert after.pending == {"meetings": 1, "attendance": 3}  # with the processor, not failures


def test_erase_is_idempotent(standin: GoToMeetingStandIn, ids: dict) -> None:
    connector = connect(standin)
    stale = connector.find(MARIA)
    first = connector.erase(stale, MARIA)
    again = connector.erase(connector.find(MARIA), MARIA)
    assert again.applied == {"meetings": {"deleted": 0}}
    assert [p.what for p in again.pending] == [p.what for p in first.pending]
    # Stale findings: the meeting is already gone (404), which is neither an error nor a deletion.
    assert connector.erase(stale, MARIA).applied == {"meetings": {"deleted": 0}}
    assert connector.verify(MARIA).ok


def test_erase_refuses_bad_input_and_changes_nothing(
    standin: GoToMeetingStandIn, ids: dict
) -> None:
    connector = connect(standin)
    found = connector.find(MARIA)
    with pytest.raises(ValueError, match="region"):
        connector.erase(Findings("gotomeeting", "eu", REF, rows=found.rows), MARIA)
    found.subject = ""
    with pytest.raises(ValueError, match="subject reference"):
        connect(standin, subject_ref="").erase(found, MARIA)
    assert standin.exists(ids["maria_upcoming"])


def test_429_with_retry_after_then_success(
    standin: GoToMeetingStandIn, ids: dict, caplog: pytest.LogCaptureFixture
) -> None:
    expected = connect(standin).find(MARIA).rows
    standin.faults.add(Fault(status=429, retry_after=0.2, times=2))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert connect(standin).find(MARIA).rows == expected
    assert time.monotonic() - started >= 0.4  # Retry-After honoured, not the 0.01 s backoff
    assert "429" in caplog.text and "gotomeeting#2" in caplog.text
    assert "@" not in caplog.text and "maria" not in caplog.text.lower()


def test_5xx_retried_then_bounded(standin: GoToMeetingStandIn, ids: dict) -> None:
    standin.faults.add(Fault(status=503, times=2))
    assert connect(standin).find(MARIA).row_counts() == {"attendance": 3, "meetings": 2}
    standin.faults.add(Fault(status=500, times=100))
    before = len(standin.requests)
    with pytest.raises(ServiceError) as err:
        connect(standin, max_attempts=3).find(MARIA)
    assert len(standin.requests) - before == 3  # bounded: no fourth attempt
    message = str(err.value)
    assert "gotomeeting#2" in message and "HTTP 500" in message and "3 attempts" in message
    assert "@" not in message and "maria" not in message.lower()


def test_timeouts_retried_then_bounded(standin: GoToMeetingStandIn, ids: dict) -> None:
    standin.faults.add(Fault(status=200, delay=0.5, times=1))
    assert connect(standin, timeout=0.2).find(MARIA).row_counts()["meetings"] == 2
    standin.faults.add(Fault(status=200, delay=0.5, times=3))
    with pytest.raises(ServiceError, match="timed out"):
        connect(standin, timeout=0.2).find(MARIA)


def test_a_failing_history_window_fails_the_search(standin: GoToMeetingStandIn, ids: dict) -> None:
    now = datetime.now(UTC)
    start, end = history_windows(now, 365, 90)[2]  # the window holding the meeting 200 days ago
    assert datetime.fromisoformat(start) < now - timedelta(days=200) < datetime.fromisoformat(end)
    window = str(httpx.QueryParams({"startDate": start}))
    standin.faults.add(Fault(status=502, times=100, path_contains=window))
    connector = connect(standin, clock=lambda: now)
    with pytest.raises(ServiceError, match=f"historical meetings {start[:10]}"):
        connector.find(MARIA)  # an error, never findings without that window
    with pytest.raises(ServiceError):
        connector.verify(MARIA)  # nor a verification that passes over it
    assert not any(method == "DELETE" for method, _ in standin.requests)


def test_a_failing_delete_says_how_far_erasure_got(standin: GoToMeetingStandIn, ids: dict) -> None:
    connector = connect(standin)
    found = connector.find(MARIA)
    standin.faults.add(Fault(status=500, times=100, path_contains=f"/{ids['maria_upcoming']}"))
    with pytest.raises(ServiceError, match="0 of 1 deleted"):
        connector.erase(found, MARIA)
    standin.faults.clear()
    assert connector.erase(found, MARIA).applied == {"meetings": {"deleted": 1}}


def test_expired_token_names_the_account(standin: GoToMeetingStandIn, ids: dict) -> None:
    with pytest.raises(CredentialError) as err:
        connect(standin, token="expired-token").find(MARIA)
    message = str(err.value)
    assert "gotomeeting#2" in message and "401" in message and CREDENTIAL in message
    assert "@" not in message
    assert len(standin.requests) == 1  # a refused token is not retried
    with pytest.raises(CredentialError, match="gotomeeting#2"):
        connect(standin, token="")


def _add_history(standin: GoToMeetingStandIn, n: int) -> None:
    now = datetime.now(UTC)
    for k in range(n):
        mid = standin.add_meeting(standin.account_organizer, f"Review {k}")
        standin.add_session(mid, now - timedelta(days=1 + k), [("maria.jensen@example.org", "M")])


def _busiest_second(arrivals: list[float], window: float = 1.0) -> int:
    return max(sum(1 for b in arrivals if a <= b < a + window) for a in arrivals)


def test_client_rate_limit_keeps_under_the_server_limit(standin: GoToMeetingStandIn) -> None:
    seed_demo(standin)
    _add_history(standin, 30)
    standin.rate_limit = 40
    found = connect(standin, rate_per_second=40, concurrency=4).find(MARIA)
    assert len(found.rows) == 35
    assert len(standin.arrivals) > 40  # more than a second's worth of requests
    assert standin.throttled == 0 and _busiest_second(standin.arrivals) <= 40
    assert standin.max_concurrent <= 4


def test_without_client_limit_the_server_throttles_and_we_recover(
    standin: GoToMeetingStandIn,
) -> None:
    seed_demo(standin)
    _add_history(standin, 30)
    standin.rate_limit, standin.rate_window = 10, 0.25
    found = connect(standin, concurrency=4, max_attempts=6).find(MARIA)
    assert standin.throttled > 0  # the limit is real, so the test above proves something
    assert len(found.rows) == 35


def test_attendee_calls_run_concurrently_within_the_bound(
    standin: GoToMeetingStandIn, ids: dict
) -> None:
    _add_history(standin, 12)
    standin.faults.add(Fault(status=200, delay=0.05, times=1000, path_contains="/attendees"))
    connect(standin, concurrency=3).find(MARIA)
    assert standin.max_concurrent == 3


def test_standin_enforces_the_documented_rules(standin: GoToMeetingStandIn) -> None:
    auth = {"Authorization": f"Bearer {standin.token}"}
    with httpx.Client(base_url=standin.base_url, trust_env=False) as client:
        assert client.get("upcomingMeetings").status_code == 401
        assert client.get("historicalMeetings", headers=auth).status_code == 400
        now = datetime.now(UTC)
        too_long = {"startDate": (now - timedelta(days=91)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "endDate": now.strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
        assert client.get("historicalMeetings", params=too_long, headers=auth).status_code == 400
        assert client.get("meetings/1/attendees", headers=auth).status_code == 404
        assert client.get("organizers", params={"email": "x@y.test"}, headers=auth).json() == []
