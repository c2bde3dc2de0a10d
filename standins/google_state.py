"""The Google stand-in's state: what the account holds, how tests seed it, what they inspect.

Kept apart from the server (``standins.google.GoogleStandIn``, which is this state plus HTTP) so
that the method handlers (``standins.google_apis``) and the demo seed (``standins.google_seed``)
work on it without importing the server that imports them.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from typing import Any

MIB = 1024 * 1024


class GoogleState:
    def __init__(
        self,
        *,
        account: str = "crm-sync@northwind.test",
        page_size: int = 100,
        export_cap: int = 10 * MIB,
    ) -> None:
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
