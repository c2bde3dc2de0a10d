"""Google Calendar v3: events on the account's calendars that the person organised or attended.

``events.list(q=...)`` narrows the search on the server (q matches organizer and attendee
e-mails, but also free text), then the organizer and attendees are matched exactly in code.
Erasure works on a fresh copy of each event: an event the person organised is deleted; from an
event they attended only their own attendee entry is removed, guarded by the event's etag
(``If-Match``) so an attendee added meanwhile is never dropped. Nobody is e-mailed about it
(``sendUpdates="none"``).
"""

from __future__ import annotations

from typing import Any

from connectors.base import FoundRow, RowRef
from connectors.google.api import GoogleApi, NotFound, PreconditionFailed
from connectors.google.match import SubjectMatcher
from connectors.services import ServiceError

EVENTS = "events"
PAGE_SIZE = 250
_PRIMARY = "primary"  # in row keys instead of the primary calendar's id, the account address
_ETAG_RACES = 3


def calendars(api: GoogleApi) -> list[str]:
    """Calendars the account can change (read-only subscriptions are not the Client's data)."""
    entries = api.pages(
        lambda token: api.calendar.calendarList().list(
            minAccessRole="writer", maxResults=PAGE_SIZE, pageToken=token
        ),
        "items",
        "calendar calendarList.list",
    )
    return [_PRIMARY if e.get("primary") else e["id"] for e in entries]


def role(event: dict[str, Any], match: SubjectMatcher) -> str | None:
    if match.email(event.get("organizer", {}).get("email")):
        return "organizer"
    if any(match.email(a.get("email")) for a in event.get("attendees", [])):
        return "attendee"
    return None


def find_events(
    api: GoogleApi, calendar: str, email: str, match: SubjectMatcher, region: str
) -> list[FoundRow]:
    events = api.pages(
        lambda token: api.calendar.events().list(
            calendarId=calendar, q=email, maxResults=PAGE_SIZE, pageToken=token
        ),
        "items",
        "calendar events.list",
    )
    rows = []
    for event in events:
        how = role(event, match)
        if how is not None:
            ref = RowRef(region, EVENTS, f"{calendar}/{event['id']}")
            rows.append(FoundRow(ref, "identity:email", _export(event, how, match, calendar)))
    return rows


def _export(event: dict[str, Any], how: str, match: SubjectMatcher, calendar: str) -> dict:
    # The person's view of the event: other attendees' addresses are theirs, not hers.
    mine = next((a for a in event.get("attendees", []) if match.email(a.get("email"))), {})
    others = [a for a in event.get("attendees", []) if not match.email(a.get("email"))]
    return {
        "calendar": calendar,
        "id": event["id"],
        "summary": event.get("summary", ""),
        "description": event.get("description", ""),
        "location": event.get("location", ""),
        "start": event.get("start", {}),
        "end": event.get("end", {}),
        "status": event.get("status", ""),
        "role": how,
        "response_status": mine.get("responseStatus", ""),
        "other_attendees": len(others),
    }


def erase_event(api: GoogleApi, key: str, match: SubjectMatcher) -> str:
    """Delete the event or take the person off it; returns the action taken."""
    calendar, _, event_id = key.rpartition("/")
    for _ in range(_ETAG_RACES):
        try:
            event = api.execute(
                api.calendar.events().get(calendarId=calendar, eventId=event_id),
                "calendar events.get",
            )
        except NotFound:
            return "already_absent"
        how = role(event, match) if event.get("status") != "cancelled" else None
        try:
            if how == "organizer":
                api.execute(
                    api.calendar.events().delete(
                        calendarId=calendar, eventId=event_id, sendUpdates="none"
                    ),
                    "calendar events.delete",
                )
                return "deleted"
            if how == "attendee":
                keep = [a for a in event["attendees"] if not match.email(a.get("email"))]
                request = api.calendar.events().patch(
                    calendarId=calendar,
                    eventId=event_id,
                    sendUpdates="none",
                    body={"attendees": keep},
                )
                request.headers["If-Match"] = event["etag"]
                api.execute(request, "calendar events.patch")
                return "attendee_removed"
            return "already_absent"
        except NotFound:
            return "already_absent"
        except PreconditionFailed:
            continue  # the event changed between our read and our write: read it again
    raise ServiceError(f"google calendar event kept changing for {api.label}; try again later")
