"""One person spread over Google, Dropbox and GoToMeeting, with other people's items around her.

The subject, Dana Whitfield, is stored the way people type her (``Dana.Whitfield@Example.org``,
``(415) 555-0199``). Each ``seed_*`` writes into a started stand-in and returns what a correct
connector must find (``expected``) and the ids a precision check needs afterwards (``others``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import Identity
from connectors.google.drive import app_properties
from connectors.identities import parse_identity
from standins.dropbox import DropboxStandIn
from standins.google import GoogleStandIn
from standins.gotomeeting import GoToMeetingStandIn

EMAIL = "dana.whitfield@example.org"
EMAIL_TYPED = (
    "Dana.Whitfield@Example.org",
    "dana.whitfield@example.org",
    "DANA.WHITFIELD@example.org",
)
PHONE_TYPED = "(415) 555-0199"
NAME = "Dana Whitfield"
IDENTITIES: set[Identity] = {
    parse_identity("email", EMAIL),
    parse_identity("phone", "+14155550199"),
    parse_identity("name", NAME),
}
OTHERS = [
    f"{first}.{last}@example.com"
    for first in ("avery", "noah", "lucia", "ines", "omar")
    for last in ("stone", "patel", "moreno", "okafor", "haddad")
]
SYNC_ROOT = "/iNextCRM"
NATIVE_DOC = "application/vnd.google-apps.document"
Tick = Callable[[int, int, str], None]
Seeded = dict[str, Any]


def _body(rng: random.Random, head: str, kb: int = 8) -> bytes:
    """``head`` then filler, ``kb``/8 .. ``kb`` KiB in all: a small office document's text."""
    size = rng.randint(kb * 128, kb * 1024)
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * (size // 56 + 1)
    return (head + "\n" + filler)[:size].encode()


def _every(tick: Tick, total: int, what: str) -> Callable[[int], None]:
    def step(done: int) -> None:
        if done % 50 == 0 or done == total:
            tick(done, total, what)

    return step


def seed_google(
    google: GoogleStandIn, files: int, events: int, tick: Tick, seed: int, kb: int = 8
) -> Seeded:
    rng = random.Random(seed)
    account = google.account
    team = google.add_calendar("team@northwind.test", summary="Team", role="writer")
    google.add_contact(
        NAME, emails=[EMAIL_TYPED[0]], phones=[PHONE_TYPED], organization="Whitfield"
    )
    google.add_contact(NAME, emails=[EMAIL], other=True)
    for i, other in enumerate(OTHERS * 2):
        google.add_contact(f"Person {i}", emails=[other], phones=[f"+1 212 201 {1000 + i}"])
    total = files + events
    step = _every(tick, total, "seed google")
    organised, attended = [], []
    for i in range(events):
        cal = team if i % 5 == 0 else None
        a, b = rng.sample(OTHERS, 2)
        start = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{8 + i % 9:02d}:00:00Z"
        her = EMAIL_TYPED[i % 3]
        if i % 5 < 2:  # 40 % organised by her, with other attendees
            ev = google.add_event(
                f"Review {i}",
                organizer=her,
                attendees=[her, account, a, b],
                calendar_id=cal,
                start=start,
            )
            organised.append((cal or account, ev))
        else:
            ev = google.add_event(
                f"Call {i}",
                organizer=a,
                attendees=[account, a, her, b],
                calendar_id=cal,
                start=start,
            )
            attended.append((cal or account, ev))
        step(i + 1)
    untouched_events = []
    for i in range(events // 5):
        a, b = rng.sample(OTHERS, 2)
        text = f"Ask {EMAIL} for the figures." if i % 10 == 0 else ""  # q hit, not her event
        ev = google.add_event(
            f"Other {i}", organizer=a, attendees=[account, a, b], description=text
        )
        untouched_events.append((account, ev))
    kinds = [("text/plain", ".txt")] * 7 + [("application/pdf", ".pdf")] * 2 + [(NATIVE_DOC, "")]
    for i in range(files):
        mime, suffix = kinds[i % len(kinds)]
        tags = (
            app_properties(phone=PHONE_TYPED)
            if i % 10 == 3
            else app_properties(email=EMAIL_TYPED[i % 3], phone=PHONE_TYPED if i % 2 else None)
        )
        google.add_file(
            f"{NAME} - document {i:04d}{suffix}",
            _body(rng, f"{NAME} {EMAIL}", kb),
            mime_type=mime,
            app_properties=tags,
        )
        step(events + i + 1)
    other_files = []
    for i in range(files // 4):
        other = OTHERS[i % len(OTHERS)]
        head = f"Notes for {other}; met {NAME} ({EMAIL})" if i % 5 == 0 else f"Notes for {other}"
        other_files.append(
            google.add_file(
                f"{other} notes {i}.txt",
                _body(rng, head),
                app_properties=app_properties(email=other),
            )
        )
    return {
        "expected": {"contacts": 1, "other_contacts": 1, "events": events, "files": files},
        "organised": organised,
        "attended": attended,
        "untouched_events": untouched_events,
        "other_files": other_files,
    }


def seed_dropbox(standin: DropboxStandIn, files: int, tick: Tick, seed: int, kb: int = 8) -> Seeded:
    rng = random.Random(seed)
    folder = f"{SYNC_ROOT}/contacts/{EMAIL}"
    step = _every(tick, files, "seed dropbox")
    put = standin.put
    for i in range(files):
        if i % 20 < 12:  # 60 %: in her contact folder, in sub-folders per quarter
            put(f"{folder}/2025-Q{1 + i % 4}/doc-{i:04d}.txt", _body(rng, f"Document {i}", kb))
        elif i % 20 < 17:  # 25 %: her address in the file name, PDF-like content
            name = f"{SYNC_ROOT}/attachments/Offer {i:04d} ({EMAIL_TYPED[i % 3]}).pdf"
            put(name, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + _body(rng, f"Offer {i}", kb))
        else:  # 15 %: only the text names her
            put(
                f"{SYNC_ROOT}/notes/call-{i:04d}.txt",
                _body(rng, f"Call with {EMAIL_TYPED[i % 3]}", kb),
            )
        step(i + 1)
    others, mentions = [], 0
    for i in range(files // 4):
        other = OTHERS[i % len(OTHERS)]
        mention = i % 12 == 0  # her name only: reported as a mention, never erased
        mentions += mention
        head = f"Met {other} and {NAME} about the offer." if mention else f"File of {other}."
        others.append(put(f"{SYNC_ROOT}/contacts/{other}/file-{i:04d}.txt", _body(rng, head)).path)
    for i in range(10):  # the Client's own files outside the sync folder: never touched
        others.append(put(f"/Private/{EMAIL} note {i}.txt", _body(rng, f"{NAME} {EMAIL}")).path)
    return {
        "expected": {"files": files, "folders": 1, "mentions": mentions},
        "other_paths": others,
    }


def seed_gotomeeting(standin: GoToMeetingStandIn, meetings: int, tick: Tick, seed: int) -> Seeded:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    day = timedelta(days=1)
    her = standin.add_organizer(EMAIL_TYPED[0], "Dana", "Whitfield")
    tom = standin.add_organizer("tom.becker@example.net", "Tom", "Becker")
    crm = standin.account_organizer
    step = _every(tick, meetings, "seed gotomeeting")
    organised = meetings * 2 // 5
    upcoming, past, attended = [], [], []
    for i in range(meetings):
        people = [(o, o.split(".")[0].title()) for o in rng.sample(OTHERS, 2)]
        ago = now - rng.randint(2, 360) * day
        if i < organised and i % 2 == 0:
            upcoming.append(
                standin.add_meeting(her, f"Dana's meeting {i}", starts=now + (1 + i % 30) * day)
            )
        elif i < organised:
            mid = standin.add_meeting(her, f"Dana's review {i}")
            standin.add_session(mid, ago, people)
            past.append(mid)
        else:  # the CRM account's meetings she attended; some recur
            starts = now + (1 + i % 14) * day if i % 6 == 0 else None
            mid = standin.add_meeting(crm, f"Client call {i}", starts=starts)
            standin.add_session(mid, ago, [*people, (f" {EMAIL_TYPED[i % 3]}", NAME)])
            attended.append(mid)
        step(i + 1)
    untouched = []
    for i in range(meetings // 5):
        people = [(o, o.split(".")[0].title()) for o in rng.sample(OTHERS, 3)]
        starts = now + (1 + i % 10) * day if i % 2 else None
        mid = standin.add_meeting(crm if i % 4 else tom, f"Team sync {i}", starts=starts)
        standin.add_session(mid, now - rng.randint(2, 360) * day, people)
        untouched.append(mid)
    return {
        "expected": {"meetings": organised, "attendance": len(attended)},
        "upcoming": upcoming,
        "past": past,
        "untouched": untouched,
        "account_meetings": len(attended) + sum(1 for i in range(meetings // 5) if i % 4),
    }
