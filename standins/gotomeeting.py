"""A local GoToMeeting stand-in: the REST paths and JSON shapes of ``/G2M/rest`` that we use.

Under ``standin.base_url``: ``upcomingMeetings``, ``historicalMeetings?startDate&endDate`` (both
required, ISO-8601 UTC, at most ``max_window_days`` apart, else 400), ``organizers?email=`` (case-
insensitive), ``organizers/{key}/upcomingMeetings|historicalMeetings``, ``meetings/{id}/attendees``,
``GET|DELETE meetings/{id}``; all need ``Authorization: Bearer <token>``, else 401.

State keeps apart what GoTo keeps apart: a meeting's *scheduled* occurrence (``upcomingMeetings``;
``DELETE meetings/{id}`` removes it) and its *session history* (``historicalMeetings``,
``attendees``; no endpoint deletes it). Recordings and invitees are inspectable state the API does
not serve, as with the real service.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from standins.server import StandInServer

PREFIX = "/G2M/rest"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Session:
    """One past instance of a meeting, with the attendee records of those who joined it."""

    session_id: int
    start: datetime
    end: datetime
    attendees: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Meeting:
    meeting_id: int
    subject: str
    organizer_key: int
    scheduled: tuple[datetime, datetime] | None = None  # the next occurrence, if any
    sessions: list[Session] = field(default_factory=list)
    recorded: bool = False  # not served: GoToMeeting has no recordings endpoint
    invitees: list[str] = field(default_factory=list)  # not served: nor an invitee endpoint
    deleted: bool = False


_ROUTES = Map(
    [
        Rule("/upcomingMeetings", endpoint="upcoming", methods=["GET"]),
        Rule("/historicalMeetings", endpoint="historical", methods=["GET"]),
        Rule("/organizers", endpoint="organizers", methods=["GET"]),
        Rule("/organizers/<int:key>/upcomingMeetings", endpoint="upcoming", methods=["GET"]),
        Rule("/organizers/<int:key>/historicalMeetings", endpoint="historical", methods=["GET"]),
        Rule("/meetings/<int:meeting_id>/attendees", endpoint="attendees", methods=["GET"]),
        Rule("/meetings/<int:meeting_id>", endpoint="meeting", methods=["GET", "DELETE"]),
    ]
)


class GoToMeetingStandIn(StandInServer):
    """GoToMeeting on 127.0.0.1 with in-memory state. With ``rate_limit``, at most that many
    requests per ``rate_window`` seconds are answered; the others get 429 with ``Retry-After``."""

    def __init__(
        self,
        *,
        token: str = "g2m-test-token",
        account_email: str = "meetings@northwind.test",
        account_key: str = "7000000001",
        max_window_days: int = 90,
        rate_limit: int | None = None,
        rate_window: float = 1.0,
    ) -> None:
        super().__init__(self.handle)
        self.token = token
        self.account_key = account_key
        self.max_window_days = max_window_days
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.organizers: dict[int, dict[str, Any]] = {}  # organizerKey -> Organizer record
        self.meetings: dict[int, Meeting] = {}
        self.arrivals: list[float] = []  # monotonic arrival time of every authenticated request
        self.throttled = 0  # requests the rate limit answered with 429 (injected faults aside)
        self._recent: deque[float] = deque()
        self._lock = threading.RLock()
        self._ids = itertools.count(1_000_000_001)
        self.account_organizer = self.add_organizer(account_email, "Northwind", "CRM")

    @property
    def base_url(self) -> str:
        return self.url + PREFIX

    def add_organizer(self, email: str, first_name: str, last_name: str) -> int:
        with self._lock:
            key = next(self._ids)
            self.organizers[key] = {"organizerKey": key, "email": email, "firstName": first_name,
                                    "lastName": last_name, "status": "active"}  # fmt: skip
            return key

    def add_meeting(
        self, organizer_key: int, subject: str, *, starts: datetime | None = None, **state: Any
    ) -> int:
        """A meeting, scheduled for an hour at ``starts`` if given; past sessions come from
        ``add_session``; ``state``: ``recorded``, ``invitees``, ``meeting_id``."""
        with self._lock:
            mid = state.pop("meeting_id", None) or next(self._ids)
            when = (starts, starts + timedelta(hours=1)) if starts else None
            self.meetings[mid] = Meeting(mid, subject, organizer_key, when, **state)
            return mid

    def add_session(
        self, meeting_id: int, starts: datetime, attendees: list[tuple[str, str]], minutes: int = 60
    ) -> int:
        """A past session: each (e-mail as GoTo stored it, name) joined at start, left at end."""
        with self._lock:
            session = Session(next(self._ids), starts, starts + timedelta(minutes=minutes))
            join, leave = iso(session.start), iso(session.end)
            session.attendees = [
                {"attendeeEmail": email, "attendeeName": name, "joinTime": join, "leaveTime": leave}
                for email, name in attendees
            ]
            self.meetings[meeting_id].sessions.append(session)
            return session.session_id

    def exists(self, meeting_id: int) -> bool:  # deleted or not; its history outlives it
        with self._lock:
            return meeting_id in self.meetings and not self.meetings[meeting_id].deleted

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json({"int_err_code": "InvalidToken", "msg": "Invalid token passed"}, 401)
        throttled = self._throttle()
        if throttled is not None:
            return throttled
        adapter = _ROUTES.bind("127.0.0.1", path_info=request.path.removeprefix(PREFIX))
        try:
            endpoint, args = adapter.match(method=request.method)
        except HTTPException as exc:
            return _error(exc.code or 404, exc.name)
        with self._lock:
            return getattr(self, f"_{endpoint}")(request, **args)

    def _throttle(self) -> Response | None:
        with self._lock:
            now = time.monotonic()
            self.arrivals.append(now)
            if self.rate_limit is None:
                return None
            while self._recent and self._recent[0] <= now - self.rate_window:
                self._recent.popleft()
            if len(self._recent) < self.rate_limit:
                self._recent.append(now)
                return None
            self.throttled += 1
            wait = self._recent[0] + self.rate_window - now
        response = _json({"int_err_code": "TooManyRequests", "msg": "Rate limit exceeded"}, 429)
        response.headers["Retry-After"] = f"{max(wait, 0.01):.2f}"
        return response

    def _upcoming(self, request: Request, key: int | None = None) -> Response:
        organizer = key or self.account_organizer
        if organizer not in self.organizers:
            return _error(404, "organizer not found")
        now = datetime.now(UTC)
        return _json(
            [{**self._base(m), "startTime": iso(m.scheduled[0]), "endTime": iso(m.scheduled[1]),
              "status": "INACTIVE"}
             for m in self.meetings.values()
             if m.organizer_key == organizer and m.scheduled and m.scheduled[1] > now]
        )  # fmt: skip

    def _historical(self, request: Request, key: int | None = None) -> Response:
        organizer = key or self.account_organizer
        try:
            start, end = _utc(request.args["startDate"]), _utc(request.args["endDate"])
        except (KeyError, ValueError):
            return _error(400, "startDate and endDate are required, in ISO-8601 UTC")
        if end < start or end - start > timedelta(days=self.max_window_days):
            return _error(400, f"the date range may span at most {self.max_window_days} days")
        if organizer not in self.organizers:
            return _error(404, "organizer not found")
        return _json(
            [self._session(m, s) for m in self.meetings.values() if m.organizer_key == organizer
             for s in m.sessions if start <= s.start <= end]
        )  # fmt: skip

    def _organizers(self, request: Request) -> Response:
        wanted = request.args.get("email", "").strip().lower()
        found = [o for o in self.organizers.values() if o["email"].lower() == wanted or not wanted]
        return _json(found)

    def _attendees(self, request: Request, meeting_id: int) -> Response:
        meeting = self.meetings.get(meeting_id)
        if meeting is None:
            return _error(404, "meeting not found")
        return _json(
            [{**self._session(meeting, s), **a, "meetingInstanceKey": s.session_id}
             for s in meeting.sessions for a in s.attendees]
        )  # fmt: skip

    def _meeting(self, request: Request, meeting_id: int) -> Response:
        meeting = self.meetings.get(meeting_id)
        if meeting is None or meeting.deleted:
            return _error(404, "meeting not found")
        if request.method == "DELETE":
            # The definition and its scheduled occurrence go; the session history stays.
            meeting.deleted, meeting.scheduled = True, None
            return Response(status=204)
        last = meeting.sessions[-1] if meeting.sessions else None
        start, end = meeting.scheduled or ((last.start, last.end) if last else (None, None))
        return _json(
            [{"meetingId": meeting_id, "meetingKey": meeting_id, "subject": meeting.subject,
              "startTime": start and iso(start), "endTime": end and iso(end),
              "meetingType": "scheduled", "status": "INACTIVE", "passwordRequired": False}]
        )  # fmt: skip

    def _base(self, m: Meeting) -> dict[str, Any]:
        o = self.organizers[m.organizer_key]
        return {"meetingId": str(m.meeting_id), "subject": m.subject,
                "organizerKey": str(m.organizer_key), "email": o["email"],
                "firstName": o["firstName"], "lastName": o["lastName"],
                "accountKey": self.account_key, "meetingType": "scheduled"}  # fmt: skip

    def _session(self, m: Meeting, s: Session) -> dict[str, Any]:
        minutes = int((s.end - s.start).total_seconds() // 60)
        return {**self._base(m), "sessionId": str(s.session_id), "startTime": iso(s.start),
                "endTime": iso(s.end), "duration": str(minutes),
                "numAttendees": str(len(s.attendees))}  # fmt: skip


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.utcoffset() is None:
        raise ValueError("a time without its UTC offset")
    return moment


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(status: int, description: str) -> Response:
    return _json({"errorCode": "InvalidRequest" if status == 400 else "Error",
                  "description": description}, status)  # fmt: skip


def seed_demo(standin: GoToMeetingStandIn, now: datetime | None = None) -> dict[str, int]:
    """Northwind's GoToMeeting account as the demo and the tests expect it; returns meeting ids.

    - ``maria_upcoming`` (next week) and ``maria_past`` (120 days ago): organised by Maria;
    - ``renewal_review`` (id 900000001, the CRM's external id): synced by the CRM, held 45 days
      ago with Maria (stored as `` MARIA.JENSEN@example.org``), Tom and Priya; recorded;
    - ``pipeline_sync``: weekly meeting of the CRM account, next in three days; Maria is invited
      and joined last week's session (GoTo shows invitations only through attendance);
    - ``q3_planning``: Maria attended 200 days ago (only found by walking the history windows);
    - ``without_maria``: Tom and Priya only; ``tom_upcoming``: organised by Tom.
    """
    now = now or datetime.now(UTC)
    day = timedelta(days=1)
    maria = standin.add_organizer("Maria.Jensen@Example.org", "Maria", "Jensen")
    tom = standin.add_organizer("tom.becker@example.net", "Tom", "Becker")
    crm, add = standin.account_organizer, standin.add_meeting
    ids = {
        "maria_upcoming": add(maria, "Partner onboarding", starts=now + 7 * day),
        "maria_past": add(maria, "Analytics workshop"),
        "renewal_review": add(crm, "Renewal review", recorded=True, meeting_id=900_000_001),
        "pipeline_sync": add(crm, "Weekly pipeline sync", starts=now + 3 * day,
                             invitees=["maria.jensen@example.org", "tom.becker@example.net"]),
        "q3_planning": add(crm, "Q3 planning", recorded=True),
        "without_maria": add(crm, "Support escalation", starts=now + 2 * day),
        "tom_upcoming": add(tom, "Tom's follow-up", starts=now + 5 * day),
    }  # fmt: skip
    priya, tom_row = (
        ("priya.raman@northwind.test", "Priya Raman"),
        ("tom.becker@example.net", "Tom"),
    )
    sessions = [
        ("maria_past", 120, [priya]),
        ("renewal_review", 45, [(" MARIA.JENSEN@example.org", "Maria Jensen"), tom_row, priya]),
        ("pipeline_sync", 4, [("maria.jensen@example.org", "Maria Jensen"), priya]),
        ("q3_planning", 200, [("Maria.Jensen@example.org", "M. Jensen"), priya]),
        ("without_maria", 10, [tom_row, priya]),
    ]
    for name, days_ago, people in sessions:
        standin.add_session(ids[name], now - days_ago * day, people)
    return ids
