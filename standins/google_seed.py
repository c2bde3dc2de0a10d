"""Demo data for the Google stand-in: what Northwind Traders' CRM sync put into its Google account.

The planted cast of ``dsr.democrm.planted``: Maria Jensen (stored the way people type, in mixed
case and with separators) and Tom Becker, plus synthetic people who only use example.com and
non-555 numbers, so they never match the cast.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.google.drive import app_properties
from standins.google_state import GoogleState

MARIA = "maria.jensen@example.org"
MARIA_AS_TYPED = "Maria.Jensen@Example.org"
MARIA_PHONE_AS_TYPED = "+1 (415) 555-0142"
TOM = "tom.becker@example.net"
PRIYA = "priya.raman@northwind.test"
PDF = (
    b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n%% Quote for Maria Jensen\n%%EOF\n"
)


@dataclass(frozen=True)
class DemoSeed:
    """The ids ``seed_demo`` created, for tests and the demo's expectations."""

    maria_contact: str
    maria_other_contact: str | None
    tom_contact: str
    synthetic_contacts: tuple[str, ...]
    event_maria_organised: str
    event_maria_attends: str  # with Tom, Priya and a synthetic guest
    event_without_maria: str
    event_mentions_maria: str  # her address in the description only: not her event
    maria_files: tuple[str, ...]
    tom_files: tuple[str, ...]


def seed_demo(google: GoogleState, *, other_contact: bool = True) -> DemoSeed:
    """Load the demo; ``other_contact`` adds a Gmail "other contact" of Maria's, which the API
    cannot delete, so the demo's proof shows a request pending with the processor."""
    account = google.account
    maria = google.add_contact(
        "Maria Jensen",
        emails=[MARIA_AS_TYPED],
        phones=[MARIA_PHONE_AS_TYPED],
        organization="Jensen Consulting",
    )
    other = (
        google.add_contact("Maria Jensen", emails=[MARIA], other=True) if other_contact else None
    )
    tom = google.add_contact(
        "Tom Becker", emails=[TOM], phones=["415-555-0177"], organization="Jensen Consulting"
    )
    synthetic = tuple(
        google.add_contact(name, emails=[email], phones=[phone])
        for name, email, phone in (
            ("Avery Stone", "avery.stone@example.com", "+1 212 201 3344"),
            ("Noah Patel", "noah.patel@example.com", "(646) 202-7781"),
            ("Lucia Moreno", "l.moreno@example.com", "+1 305 203 9912"),
        )
    )
    google.add_contact("Ines Okafor", emails=["ines.okafor@example.com"], other=True)
    organised = google.add_event(
        "Renewal call with Northwind",
        organizer=MARIA,
        attendees=[MARIA, account, PRIYA],
        start="2026-03-05T15:00:00Z",
        end="2026-03-05T15:30:00Z",
    )
    attends = google.add_event(
        "Quarterly review",
        organizer=PRIYA,
        attendees=[account, PRIYA, MARIA_AS_TYPED, TOM, "avery.stone@example.com"],
        start="2026-03-10T09:00:00Z",
        end="2026-03-10T10:00:00Z",
    )
    without = google.add_event(
        "Pipeline sync",
        organizer=PRIYA,
        attendees=[account, PRIYA, TOM],
        start="2026-03-11T09:00:00Z",
    )
    mentions = google.add_event(
        "Prepare the Jensen Consulting quote",
        organizer=PRIYA,
        attendees=[account, TOM],
        description=f"Collect the open questions from {MARIA} before Tuesday.",
        start="2026-03-12T09:00:00Z",
    )
    maria_files = (
        google.add_file(
            "Maria Jensen - contact sheet.txt",
            b"Maria Jensen\nJensen Consulting\nmaria.jensen@example.org\n+1 (415) 555-0142\n",
            app_properties=app_properties(email=MARIA_AS_TYPED, phone=MARIA_PHONE_AS_TYPED),
        ),
        google.add_file(
            "Maria Jensen - signed quote.pdf",
            PDF,
            mime_type="application/pdf",
            app_properties=app_properties(email=MARIA),
        ),
    )
    tom_files = (
        google.add_file(
            "Tom Becker - meeting notes.txt",
            # Mentions Maria, but is synced for Tom: erasing Maria must leave it alone.
            b"Tom Becker: met with Maria Jensen (maria.jensen@example.org) about the quote.\n",
            app_properties=app_properties(email=TOM),
        ),
    )
    return DemoSeed(
        maria_contact=maria,
        maria_other_contact=other,
        tom_contact=tom,
        synthetic_contacts=synthetic,
        event_maria_organised=organised,
        event_maria_attends=attends,
        event_without_maria=without,
        event_mentions_maria=mentions,
        maria_files=maria_files,
        tom_files=tom_files,
    )
