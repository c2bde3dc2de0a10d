"""GoToMeeting: meetings a person organised or attended, over the REST API (``api``).

What the API can erase decides what ``erase`` does:
- ``DELETE meetings/{id}`` removes a *scheduled* meeting: upcoming meetings the person organised are
  deleted, and a new search confirms they are gone.
- Session history (``historicalMeetings``, ``meetings/{id}/attendees``) and recordings have no
  delete endpoint. Deleting a past meeting's id would leave its history in place, and we report as
  done only what a new search confirms gone; so past meetings they organised, their attendee
  records and any recordings are *requested from GoTo's privacy team* (``PendingWithProcessor``).

Attendance is searched in the meetings of the connected account (the organizer whose token we hold,
through which the CRM syncs meetings); organised meetings through the admin ``organizers?email=``
lookup. History is listed in ``window_days`` windows over ``history_days``, because GoTo limits the
range of one history call (GoTo leaves a meeting still in progress out of the history).
Only e-mail identities are searched: GoTo's names are free text that anyone may type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from connectors.base import EMAIL, Findings, FoundRow, Identity, RowRef
from connectors.gotomeeting.api import GoToClient
from connectors.gotomeeting.host_rate_limit import account_limiter
from connectors.identities import InvalidIdentity, normalise_email
from connectors.services import (
    PendingWithProcessor,
    ServiceAccount,
    ServiceErasure,
    ServiceError,
    ServiceVerification,
)

SYSTEM = "gotomeeting"
# The attendee's own fields; the organizer's name and address in the same record are not theirs.
_ATTENDEE_FIELDS = ("meetingInstanceKey", "attendeeName", "attendeeEmail", "joinTime", "leaveTime")
# Sent to GoTo for what the API cannot erase. The subject is named only by the request's keyed
# reference, never by address: GoTo receives the identity over its verified channel.
PROCESSOR_REQUEST = """\
To: GoTo privacy team (GoToMeeting data-subject requests)
From: iNextCRM privacy team, processor acting for the account holder
Date: {at}
Reference: {ref}
Subject: Erasure request (GDPR Art. 17 and 19), reference {ref}

GoTo account key: {account_keys}
Meeting ids: {meeting_ids}

On behalf of the account holder, the controller of this data, we ask you to erase personal data
of one data subject that the GoToMeeting API does not let us erase:
- {what}.
The subject's identity is not repeated here. Please reply quoting the reference and we will
confirm it through your verified channel. Please confirm the erasure, quoting the reference,
within one month (GDPR Art. 12(3)).
"""


def history_windows(now: datetime, history_days: int, window_days: int) -> list[tuple[str, str]]:
    """(startDate, endDate) pairs, newest first, that together cover ``history_days`` back."""
    end = now.astimezone(UTC).replace(microsecond=0)
    oldest, windows = end - timedelta(days=history_days), []
    while end > oldest:
        start = max(oldest, end - timedelta(days=window_days))
        windows.append((start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")))
        end = start
    return windows


@dataclass
class GoToMeetingVerification(ServiceVerification):
    """``remaining``: what should be gone and is not. ``pending``: what is still found but was
    requested from the processor (past meetings, attendance): expected, not a failure."""

    pending: dict[str, int] = field(default_factory=dict)


class GoToMeetingConnector:
    system = SYSTEM

    def __init__(
        self,
        account: ServiceAccount,
        token: str,
        *,
        base_url: str,
        max_attempts: int = 4,
        timeout: float = 10.0,
        history_days: int = 365,
        window_days: int = 90,
        concurrency: int = 4,
        rate_per_second: float = 10.0,  # GoTo's documented default limit
        backoff: float = 0.5,  # first wait between attempts; doubles, capped at max_wait
        max_wait: float = 30.0,
        subject_ref: str = "",  # the request's keyed subject reference, for processor requests
        rate_limit_dir: Path | None = None,  # the account's limit shared by this host's processes
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if account.kind != SYSTEM:
            raise ValueError(f"{account.label} is not a GoToMeeting account")
        if history_days < 1 or window_days < 1:
            raise ValueError("history_days and window_days must be at least 1")
        self.account, self.subject_ref, self.clock = account, subject_ref, clock
        self.history_days, self.window_days = history_days, window_days
        shared = account_limiter(rate_limit_dir, SYSTEM, account.credential_ref, rate_per_second)
        self.api = GoToClient(
            account, token, base_url=base_url, timeout=timeout, max_attempts=max_attempts,
            backoff=backoff, max_wait=max_wait, rate_per_second=rate_per_second,
            concurrency=concurrency,
            limiter=shared,
        )  # fmt: skip

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> GoToMeetingConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- find ----------------------------------------------------------------------------------

    def find(self, identities: set[Identity]) -> Findings:
        emails = {normalise_email(i.value) for i in identities if i.kind == EMAIL}
        region = self.account.region
        findings = Findings(SYSTEM, region, self.subject_ref, identities=set(identities))
        findings.searched_tables = ["meetings", "attendance"]
        own = _normalised(self.account.account)
        if own in emails:
            # The connected account's meetings are the Client's, not one person's to delete.
            emails.discard(own)
            findings.skipped_tables["meetings"] = "the address is the connected account's own"
        if not emails:
            return findings
        lookups = self.api.parallel(
            partial(self.api.get, "organizers", "organizer lookup", {"email": e}) for e in emails
        )
        keys = {
            str(o["organizerKey"]) for found in lookups for o in found if _is(o, "email", emails)
        }
        organised: dict[str, dict[str, Any]] = {}  # meetingId -> the meeting row's data
        account: dict[str, dict[str, Any]] = {}  # meetingId -> upcoming?, accountKey
        for owner, upcoming, records in self._listings(keys):
            for rec in records:
                mid = str(rec["meetingId"])
                if not owner:
                    seen = account.setdefault(mid, {"upcoming": False})
                    seen.update(upcoming=seen["upcoming"] or upcoming)
                    seen.setdefault("accountKey", rec.get("accountKey"))
                elif str(rec.get("organizerKey")) == owner:  # only what GoTo says is theirs
                    _add_organised(organised.setdefault(mid, {"meetingId": mid}), rec, upcoming)
        rows = [
            FoundRow(RowRef(region, "meetings", mid), "identity:organizer.email", data)
            for mid, data in organised.items()
        ]
        rows += self._attendance(account, emails)
        findings.rows = sorted(rows, key=lambda r: (r.ref.table, r.ref.pk))
        return findings

    def _listings(self, keys: set[str]) -> list[tuple[str, bool, list[dict[str, Any]]]]:
        """(owner, upcoming?, records) for every listing call: the connected account's (owner "")
        and each organizer key's upcoming meetings and history windows, run concurrently."""
        windows = history_windows(self.clock(), self.history_days, self.window_days)
        plan: list[tuple[str, bool, str, str, dict[str, str] | None]] = []
        for owner in ["", *sorted(keys)]:
            prefix = f"organizers/{owner}/" if owner else ""
            plan.append((owner, True, f"{prefix}upcomingMeetings", "upcoming meetings", None))
            for start, end in windows:
                op = f"historical meetings {start[:10]}..{end[:10]}"
                params = {"startDate": start, "endDate": end}
                plan.append((owner, False, f"{prefix}historicalMeetings", op, params))
        results = self.api.parallel(partial(self.api.get, p, op, q) for _, _, p, op, q in plan)
        return [(o, up, records) for (o, up, *_), records in zip(plan, results, strict=True)]

    def _attendance(self, account: dict[str, dict[str, Any]], emails: set[str]) -> list[FoundRow]:
        ids = sorted(account)
        lists = self.api.parallel(
            partial(self.api.get, f"meetings/{m}/attendees", f"attendees of meeting {m}")
            for m in ids
        )
        rows = []
        for mid, records in zip(ids, lists, strict=True):
            mine = [r for r in records if _is(r, "attendeeEmail", emails)]
            if mine:
                data = {
                    "meetingId": mid,
                    "subject": mine[0].get("subject"),
                    **account[mid],
                    "records": [{k: r.get(k) for k in _ATTENDEE_FIELDS} for r in mine],
                }
                ref = RowRef(self.account.region, "attendance", mid)
                rows.append(FoundRow(ref, "identity:attendee.attendeeEmail", data))
        return rows

    # -- erase and verify ----------------------------------------------------------------------

    def erase(
        self, findings: Findings, identities: set[Identity], *, subject_ref: str | None = None
    ) -> ServiceErasure:
        """Delete the upcoming meetings the person organised; request the rest from GoTo."""
        ref = subject_ref or self.subject_ref or findings.subject
        if findings.system != SYSTEM or findings.region != self.account.region:
            raise ValueError(f"{self.account.label}: findings of another system or region")
        if not ref:
            raise ValueError("a keyed subject reference is needed for the processor request")
        meetings = [r for r in findings.rows if r.ref.table == "meetings"]
        upcoming = sorted(r.ref.pk for r in meetings if r.data.get("upcoming"))
        outcomes = self.api.parallel(partial(self._try_delete, m) for m in upcoming)
        deleted = sum(1 for o in outcomes if o is True)
        failed = next((o for o in outcomes if isinstance(o, ServiceError)), None)
        if failed is not None:
            raise type(failed)(f"{failed}; {deleted} of {len(upcoming)} deleted, erase again")
        past = _ids(r.ref.pk for r in meetings if r.data.get("historical"))
        attended = _ids(r.ref.pk for r in findings.rows if r.ref.table == "attendance")
        keys = sorted({str(r.data.get("accountKey")) for r in findings.rows} - {"None"})
        at = self.clock().astimezone(UTC).isoformat(timespec="seconds")
        recorded = _ids({*past, *attended})
        asks = [
            (past, f"organiser records and session history of past meetings ({len(past)})"),
            (attended, f"attendee records (name, address, join/leave times) ({len(attended)})"),
            (recorded, f"recordings, if any, of these meetings ({len(recorded)})"),
        ]
        pending = [
            PendingWithProcessor(SYSTEM, what, self._request_text(what, ids, ref, keys, at), at)
            for ids, what in asks
            if ids
        ]
        applied = {"meetings": {"deleted": deleted}}
        return ServiceErasure(SYSTEM, self.account.label, applied, pending)

    @staticmethod
    def _request_text(what: str, ids: list[str], ref: str, keys: list[str], at: str) -> str:
        return PROCESSOR_REQUEST.format(
            what=what, meeting_ids=", ".join(ids), ref=ref, at=at,
            account_keys=", ".join(keys) or "not reported by the API",
        )  # fmt: skip

    def verify(self, identities: set[Identity]) -> GoToMeetingVerification:
        """Search again. ``ok`` is True when no upcoming meeting the person organised is left.

        Past meetings they organised and their attendance are still found after a successful
        erasure: GoTo keeps them until its privacy team acts on our request. They are counted in
        ``pending``, not ``remaining``: counting them as failures would fail every erasure forever,
        and ignoring them would hide them; the proof shows them as requested from the processor.
        """
        rows = self.find(identities).rows
        left = sum(1 for r in rows if r.ref.table == "meetings" and r.data.get("upcoming"))
        past = sum(1 for r in rows if r.ref.table == "meetings" and r.data.get("historical"))
        attended = sum(1 for r in rows if r.ref.table == "attendance")
        return GoToMeetingVerification(
            ok=left == 0,
            remaining={"meetings": left},
            pending={"meetings": past, "attendance": attended},
        )

    def _try_delete(self, meeting_id: str) -> bool | ServiceError:
        try:
            return self.api.delete(f"meetings/{meeting_id}", f"delete meeting {meeting_id}")
        except ServiceError as exc:  # returned, so that erase can say how many went before
            return exc


def _add_organised(row: dict[str, Any], record: dict[str, Any], upcoming: bool) -> None:
    """Merge one listing record into a meeting row: a recurring meeting is both scheduled and
    historical, and a session on a window boundary is listed twice."""
    row.setdefault("organizerKey", str(record.get("organizerKey")))
    row.setdefault("accountKey", record.get("accountKey"))
    row.setdefault("subject", record.get("subject"))
    row.setdefault("upcoming", False)
    row.setdefault("historical", False)
    sessions = row.setdefault("sessions", [])
    if upcoming:
        row.update(upcoming=True, scheduled=record)
    elif record not in sessions:
        row["historical"] = True
        sessions.append(record)


def _ids(pks: Iterable[str]) -> list[str]:
    return sorted(set(pks), key=lambda pk: (len(pk), pk))  # numeric order for numeric ids


def _normalised(raw: object) -> str | None:
    try:
        return normalise_email(str(raw or ""))
    except InvalidIdentity:  # a stored address we cannot parse is nobody's match
        return None


def _is(record: dict[str, Any], key: str, emails: set[str]) -> bool:
    return _normalised(record.get(key)) in emails
