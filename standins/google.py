"""A local stand-in for Google People v1, Calendar v3 and Drive v3, for tests and the demo.

Served by ``standins.server.StandInServer`` on 127.0.0.1 under the roots the client library
is pointed at with ``client_options={"api_endpoint": ...}``:

    people   → {url}/            (the API's paths start with ``v1/``)
    calendar → {url}/calendar/v3/
    drive    → {url}/drive/v3/

Every request is routed and validated against the discovery documents the client library ships
(``standins.google_discovery``), so the stand-in cannot accept a call the real API would refuse.
State is in memory and public: a test seeds it with ``add_*`` and inspects the dicts directly.

    with GoogleStandIn(token="t0k3n", page_size=2) as google:
        rn = google.add_contact("Maria Jensen", emails=["Maria.Jensen@Example.org"])
        google.server.faults.add(Fault(status=429, retry_after=0.1))
        ... GoogleConnector(account, "t0k3n", base_url=google.url) ...
        assert rn not in google.contacts
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from typing import Any

from werkzeug.wrappers import Request, Response

from standins.google_apis import HANDLERS, Call
from standins.google_discovery import Discovery, RequestRejected, google_error
from standins.google_seed import seed_demo
from standins.server import StandInServer

__all__ = ["GoogleStandIn", "seed_demo"]

MIB = 1024 * 1024
_MOUNTS = (
    ("/calendar/v3/", "calendar", "v3"),
    ("/drive/v3/", "drive", "v3"),
    ("/", "people", "v1"),
)


class GoogleStandIn:
    def __init__(
        self,
        token: str,
        *,
        account: str = "crm-sync@northwind.test",
        page_size: int = 100,
        export_cap: int = 10 * MIB,
        port: int = 0,
    ) -> None:
        self.token = token
        self.account = account
        self.page_size = page_size  # caps every page, so tests exercise paging with few items
        self.export_cap = export_cap  # Drive refuses to export Google-native files above this
        self.incomplete_search = False  # Drive may answer a search with incompleteSearch=true
        self.lock = threading.RLock()
        self.contacts: dict[str, dict[str, Any]] = {}  # resourceName -> Person
        self.other_contacts: dict[str, dict[str, Any]] = {}  # resourceName -> Person
        self.calendars: dict[str, dict[str, Any]] = {}  # calendarId -> CalendarListEntry
        self.events: dict[str, dict[str, dict[str, Any]]] = {}  # calendarId -> id -> Event
        self.files: dict[str, dict[str, Any]] = {}  # fileId -> File
        self.contents: dict[str, bytes] = {}  # fileId -> bytes (the export of native files)
        self.pages_served: Counter[str] = Counter()  # method id -> pages after the first
        self.sent_updates: list[str] = []  # sendUpdates of each event change: who was e-mailed
        self._ids = itertools.count(1)
        self._apis = {api: Discovery(api, version) for _, api, version in _MOUNTS}
        self.add_calendar(account, summary=account, primary=True)
        self.server = StandInServer(self.handle, port=port)

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> GoogleStandIn:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> GoogleStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- seeding ----------------------------------------------------------------------------

    def new_id(self, prefix: str = "") -> str:
        return f"{prefix}{next(self._ids):06d}"

    def add_contact(
        self,
        name: str,
        *,
        emails: list[str] | tuple[str, ...] = (),
        phones: list[str] | tuple[str, ...] = (),
        organization: str = "",
        other: bool = False,
    ) -> str:
        """A contact (or, with ``other=True``, an "other contact"); returns its resourceName."""
        rn = ("otherContacts/c" if other else "people/c") + self.new_id()
        person: dict[str, Any] = {
            "resourceName": rn,
            "etag": "%" + self.new_id("e"),
            "metadata": {"sources": [{"type": "OTHER_CONTACT" if other else "CONTACT"}]},
            "names": [{"displayName": name, "unstructuredName": name}],
            "emailAddresses": [{"value": e} for e in emails],
            "phoneNumbers": [{"value": p} for p in phones],
        }
        if organization:
            person["organizations"] = [{"name": organization}]
        with self.lock:
            (self.other_contacts if other else self.contacts)[rn] = person
        return rn

    def add_calendar(
        self, calendar_id: str, *, summary: str = "", primary: bool = False, role: str = "owner"
    ) -> str:
        with self.lock:
            self.calendars[calendar_id] = {
                "kind": "calendar#calendarListEntry",
                "id": calendar_id,
                "summary": summary or calendar_id,
                "accessRole": role,
                "primary": primary,
            }
            self.events.setdefault(calendar_id, {})
        return calendar_id

    def add_event(
        self,
        summary: str,
        *,
        organizer: str,
        attendees: list[str] | tuple[str, ...] = (),
        calendar_id: str | None = None,
        start: str = "2026-03-02T10:00:00Z",
        end: str = "2026-03-02T11:00:00Z",
        description: str = "",
    ) -> str:
        """An event on a calendar (the account's primary by default); returns its id."""
        cal = calendar_id or self.account
        event_id = self.new_id("ev")
        event = {
            "kind": "calendar#event",
            "id": event_id,
            "etag": '"' + self.new_id("1") + '"',
            "status": "confirmed",
            "summary": summary,
            "description": description,
            "start": {"dateTime": start},
            "end": {"dateTime": end},
            "organizer": {"email": organizer},
            "attendees": [
                {
                    "email": a,
                    "responseStatus": "needsAction",
                    **({"self": True} if a == cal else {}),
                }
                for a in attendees
            ],
        }
        with self.lock:
            self.events[cal][event_id] = event
        return event_id

    def add_file(
        self,
        name: str,
        content: bytes,
        *,
        mime_type: str = "text/plain",
        app_properties: dict[str, str] | None = None,
        description: str = "",
    ) -> str:
        """A Drive file with its content; a Google-native ``mime_type`` is exported, not sent."""
        file_id = self.new_id("f")
        meta = {
            "kind": "drive#file",
            "id": file_id,
            "name": name,
            "mimeType": mime_type,
            "description": description,
            "appProperties": dict(app_properties or {}),
            "trashed": False,
            "createdTime": "2026-03-01T09:00:00.000Z",
            "modifiedTime": "2026-03-01T09:00:00.000Z",
            "size": str(len(content)),
        }
        with self.lock:
            self.files[file_id] = meta
            self.contents[file_id] = content
        return file_id

    # --- inspection -------------------------------------------------------------------------

    def live_events(self, calendar_id: str | None = None) -> dict[str, dict[str, Any]]:
        """The events of a calendar that are not cancelled (deleted events keep a tombstone)."""
        with self.lock:
            events = self.events[calendar_id or self.account]
            return {k: v for k, v in events.items() if v.get("status") != "cancelled"}

    def attendees(self, event_id: str, calendar_id: str | None = None) -> list[str]:
        with self.lock:
            event = self.events[calendar_id or self.account][event_id]
            return [a["email"] for a in event.get("attendees", [])]

    # --- HTTP -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        for prefix, api, _version in _MOUNTS:
            if request.path.startswith(prefix):
                discovery = self._apis[api]
                path = request.path[len(prefix) :]
                break
        try:
            method, path_params = discovery.route(request.method, path)
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return google_error(
                    401,
                    "Request had invalid authentication credentials. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential.",
                    reason="authError",
                )
            discovery.validate(method, path_params, request.args)
            body = discovery.validate_body(method, request.get_data())
            handler = HANDLERS.get(method.id)
            if handler is None:
                return google_error(501, f"{method.id} is not implemented by the stand-in")
            call = Call(method.id, path_params, request.args, body, request.headers)
            with self.lock:
                return handler(self, call)
        except RequestRejected as rejected:
            return rejected.response
