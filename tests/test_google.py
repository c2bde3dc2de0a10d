"""Google through the real client library, talking HTTP to ``standins.google.GoogleStandIn``
(which validates every request against the library's own discovery documents): no mocks."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from connectors.base import Identity
from connectors.google.connector import GoogleConnector
from connectors.google.drive import app_properties
from connectors.identities import parse_identity
from connectors.services import CredentialError, ServiceAccount, ServiceError
from standins.google import GoogleStandIn, seed_demo
from standins.google_seed import MARIA, TOM, DemoSeed
from standins.server import Fault

TOKEN = "ya29.stand-in-token"
VAULT = "vault://integrations/us/northwind/google"
ACCOUNT = ServiceAccount("12", "1900000001", "us", "google", "crm-sync@northwind.test", VAULT)
MARIA_IDS = {parse_identity("email", MARIA), parse_identity("phone", "+14155550142")}
RETRIES = 2


@pytest.fixture
def google() -> Iterator[GoogleStandIn]:
    with GoogleStandIn(TOKEN, account=ACCOUNT.account, page_size=2) as standin:
        yield standin


@pytest.fixture
def seed(google: GoogleStandIn) -> DemoSeed:
    return seed_demo(google)


def connect(google: GoogleStandIn, **kw: object) -> GoogleConnector:
    options: dict = {"max_retries": RETRIES, "timeout": 2.0, "backoff": 0.01, **kw}
    return GoogleConnector(ACCOUNT, options.pop("token", TOKEN), base_url=google.url, **options)


def found(connector: GoogleConnector, identities: set[Identity] = MARIA_IDS) -> dict:
    return {(r.ref.table, r.ref.pk): r for r in connector.find(identities).rows}


def assert_no_identity(text: str) -> None:
    assert "google#12" in text
    for secret in (MARIA, "Maria.Jensen", ACCOUNT.account, "4155550142"):
        assert secret.lower() not in text.lower()


# --- recall and export ----------------------------------------------------------------------


def test_finds_contacts_events_and_files_across_spellings(google, seed) -> None:
    rows = found(connect(google))
    assert set(rows) == {
        ("contacts", seed.maria_contact),
        ("other_contacts", seed.maria_other_contact),
        ("events", f"primary/{seed.event_maria_organised}"),
        ("events", f"primary/{seed.event_maria_attends}"),
        *(("files", f) for f in seed.maria_files),
    }
    assert rows[("events", f"primary/{seed.event_maria_organised}")].data["role"] == "organizer"
    attended = rows[("events", f"primary/{seed.event_maria_attends}")].data
    assert attended["role"] == "attendee"
    assert attended["other_attendees"] == 4
    assert TOM not in str(attended)  # her export does not hand out the other guests' addresses
    for file_id in seed.maria_files:
        row = rows[("files", file_id)]
        assert row.data["content"] == google.contents[file_id]
        assert row.data["filename"] == google.files[file_id]["name"]
    assert google.pages_served["people.people.connections.list"] >= 2  # paging was followed


@pytest.mark.parametrize(
    ("kind", "typed"),
    [
        ("email", " MARIA.JENSEN@example.ORG "),
        ("phone", "(415) 555-0142"),
        ("phone", "+1 415.555.0142"),
    ],
)
def test_one_identity_in_any_spelling_finds_her_contact(google, seed, kind, typed) -> None:
    old = google.add_contact("M. Jensen (old)", phones=["415.555.0142"])
    rows = found(connect(google), {parse_identity(kind, typed)})
    contacts = {pk for table, pk in rows if table == "contacts"}
    # Stored as "Maria.Jensen@Example.org" / "+1 (415) 555-0142", and "415.555.0142" for the old one
    assert contacts == ({seed.maria_contact, old} if kind == "phone" else {seed.maria_contact})
    assert ("files", seed.maria_files[0]) in rows  # synced with the hash of either identity


def test_native_files_are_exported_and_the_export_cap_is_visible(google) -> None:
    google.export_cap = 64
    props = app_properties(email=MARIA)
    small = google.add_file(
        "Notes", b"doc text", mime_type="application/vnd.google-apps.document", app_properties=props
    )
    sheet = "application/vnd.google-apps.spreadsheet"
    large = google.add_file("Big sheet", b"x" * 99, mime_type=sheet, app_properties=props)
    rows = found(connect(google))
    assert rows[("files", small)].data["content"] == b"doc text"
    assert rows[("files", small)].data["filename"] == "Notes.docx"
    assert rows[("files", large)].data["content"] is None
    assert "10 MB" in rows[("files", large)].data["content_unavailable"]


# --- erasure, precision, verification -------------------------------------------------------


def test_erase_takes_only_her_and_verifies(google, seed) -> None:
    connector = connect(google)
    erasure = connector.erase(connector.find(MARIA_IDS), MARIA_IDS)
    assert erasure.account == "google#12"
    assert erasure.applied == {
        "contacts": {"deleted": 1},
        "events": {"attendee_removed": 1, "deleted": 1},
        "files": {"deleted": 2},
    }
    # Other contacts cannot be deleted through the API: pending, never reported as done.
    (pending,) = erasure.pending
    assert seed.maria_other_contact in pending.request_text
    assert MARIA not in pending.request_text.lower()

    assert seed.maria_contact not in google.contacts
    assert {seed.tom_contact, *seed.synthetic_contacts} <= set(google.contacts)
    assert seed.event_maria_organised not in google.live_events()
    others = [ACCOUNT.account, "priya.raman@northwind.test", TOM, "avery.stone@example.com"]
    assert google.attendees(seed.event_maria_attends) == others  # everyone but her, as they were
    assert seed.event_without_maria in google.live_events()
    assert MARIA in google.live_events()[seed.event_mentions_maria]["description"]
    assert len(google.attendees(seed.event_without_maria)) == 3
    assert not set(seed.maria_files) & set(google.files)
    assert set(seed.tom_files) <= set(google.files)
    assert google.sent_updates == ["none", "none"]  # nobody was e-mailed about the erasure

    verification = connector.verify(MARIA_IDS)
    assert verification.ok
    assert verification.remaining == {"contacts": 0, "other_contacts": 1, "events": 0, "files": 0}


def test_second_erasure_is_a_no_op(google, seed) -> None:
    connector = connect(google)
    first = connector.find(MARIA_IDS)
    connector.erase(first, MARIA_IDS)
    again = connector.find(MARIA_IDS)
    assert again.row_counts() == {"other_contacts": 1}
    assert connector.erase(again, MARIA_IDS).applied == {}
    # Replaying the first findings finds everything already gone, and says so.
    replay = connector.erase(first, MARIA_IDS)
    assert replay.applied == {
        "contacts": {"already_absent": 1},
        "events": {"already_absent": 2},
        "files": {"already_absent": 2},
    }
    assert seed.tom_contact in google.contacts


def test_an_attendee_added_after_the_search_is_kept(google, seed) -> None:
    connector = connect(google)
    findings = connector.find(MARIA_IDS)
    google.events[google.account][seed.event_maria_attends]["attendees"].append(
        {"email": "late.guest@example.com"}
    )
    connector.erase(findings, MARIA_IDS)
    assert "late.guest@example.com" in google.attendees(seed.event_maria_attends)
    assert MARIA not in [a.lower() for a in google.attendees(seed.event_maria_attends)]


# --- faults ---------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out(google, seed) -> None:
    google.server.faults.add(
        Fault(status=429, retry_after=0.3, times=2, path_contains="/v1/otherContacts")
    )
    start = time.monotonic()
    rows = found(connect(google))
    assert time.monotonic() - start >= 0.6  # Retry-After honoured, not the 0.01 s back-off
    assert ("other_contacts", seed.maria_other_contact) in rows
    assert google.server.requests.count(("GET", "/v1/otherContacts")) == 3


def test_persistent_500_fails_the_erasure_visibly(google, seed) -> None:
    connector = connect(google)
    findings = connector.find(MARIA_IDS)
    target = seed.maria_files[1]
    google.server.faults.add(Fault(status=500, times=RETRIES + 1, path_contains=f"/files/{target}"))
    with pytest.raises(ServiceError) as failed:
        connector.erase(findings, MARIA_IDS)
    assert_no_identity(str(failed.value))
    assert "HTTP 500" in str(failed.value)
    assert google.server.requests.count(("DELETE", f"/drive/v3/files/{target}")) == RETRIES + 1
    verification = connector.verify(MARIA_IDS)
    assert not verification.ok
    assert verification.remaining["files"] == 1


def test_a_slow_answer_is_retried_then_fails_after_the_bound(google, seed) -> None:
    slow = Fault(status=200, delay=0.6, times=1, path_contains="/users/me/calendarList")
    google.server.faults.add(slow)
    assert ("events", f"primary/{seed.event_maria_attends}") in found(connect(google, timeout=0.3))
    google.server.faults.add(
        Fault(status=200, delay=0.6, times=RETRIES + 1, path_contains="/users/me/calendarList")
    )
    with pytest.raises(ServiceError, match="did not answer") as failed:
        connect(google, timeout=0.3).find(MARIA_IDS)
    assert_no_identity(str(failed.value))


@pytest.mark.parametrize("failures", [1, RETRIES + 1], ids=["recovers", "exhausted"])
def test_a_failing_page_is_retried_and_never_truncates(google, seed, failures) -> None:
    google.page_size = 1
    google.server.faults.add(Fault(status=503, times=failures, path_contains="pageToken=files-p1"))
    connector = connect(google)
    if failures <= RETRIES:
        rows = found(connector)
        assert {pk for table, pk in rows if table == "files"} == set(seed.maria_files)
    else:
        with pytest.raises(ServiceError) as failed:
            connector.find(MARIA_IDS)
        assert "drive files.list" in str(failed.value)
        assert_no_identity(str(failed.value))


def test_an_incomplete_search_or_a_refused_credential_is_an_error(google, seed) -> None:
    google.incomplete_search = True  # Drive says it could not search every corpus
    with pytest.raises(ServiceError, match="incomplete search"):
        connect(google).find(MARIA_IDS)
    with pytest.raises(CredentialError) as refused:
        connect(google, token="expired").find(MARIA_IDS)
    assert str(refused.value) == "credential for google#12 was refused: renew it"


def test_concurrency_is_used_within_the_bound(google, seed) -> None:
    for n in range(8):
        google.add_file(f"Attachment {n}.txt", b"x" * n, app_properties=app_properties(email=MARIA))
    google.server.faults.add(
        Fault(status=200, delay=0.05, times=10_000)
    )  # every call takes a while
    connector = connect(google, concurrency=3)
    connector.erase(connector.find(MARIA_IDS), MARIA_IDS)
    google.server.faults.clear()
    assert 2 <= google.server.max_concurrent <= 3


def test_debug_logs_carry_no_identity(google, seed, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        connector = connect(google)
        connector.erase(connector.find(MARIA_IDS), MARIA_IDS)
    assert caplog.records  # the client did log its requests
    text = caplog.text.lower()
    assert MARIA not in text and "maria.jensen%40" not in text and ACCOUNT.account not in text


# --- the stand-in keeps to the real API -----------------------------------------------------


REFUSED = [
    ("GET", "/drive/v3/files", {"q": "trashed = false", "ownerEmail": "x"}, 400, "Unknown name"),
    ("GET", "/drive/v3/files/{file}/export", {}, 400, "Required parameter: mimeType"),
    ("GET", "/calendar/v3/users/me/calendarList", {"minAccessRole": "god"}, 400, "Invalid value"),
    ("GET", "/drive/v3/files", {"q": "'x' in owners"}, 400, "Invalid Value"),  # never "all files"
    ("PATCH", "/calendar/v3/calendars/primary/events/{event}", {}, 400, 'Unknown name "bogus"'),
    ("GET", "/v1/people/me/connections", {}, 400, "personFields mask is required"),
    ("GET", "/drive/v3/nowhere", {}, 404, "No such method"),
]


@pytest.fixture(scope="module")
def read_only() -> Iterator[tuple[GoogleStandIn, DemoSeed]]:
    with GoogleStandIn(TOKEN, account=ACCOUNT.account) as standin:
        yield standin, seed_demo(standin)


@pytest.mark.parametrize(("method", "path", "params", "status", "message"), REFUSED)
def test_stand_in_refuses_what_the_discovery_documents_refuse(
    read_only, method, path, params, status, message
) -> None:
    google, seed = read_only
    path = path.format(file=seed.maria_files[0], event=seed.event_without_maria)
    body = {"bogus": []} if method == "PATCH" else None
    with httpx.Client(base_url=google.url, trust_env=False) as http:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        answer = http.request(method, path, params=params, json=body, headers=auth)
        assert answer.status_code == status
        assert message in answer.json()["error"]["message"]
        ok = http.get("/v1/people/me/connections", params={"personFields": "names"}, headers=auth)
        assert ok.status_code == 200 and ok.json()["connections"]
        denied = http.get("/v1/people/me/connections", params={"personFields": "names"})
        assert denied.status_code == 401
        assert denied.json()["error"]["status"] == "UNAUTHENTICATED"
