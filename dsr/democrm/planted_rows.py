"""The planted cast's rows, region by region. ``owner`` is whose row it is (None: nobody's).

Every value is fixed except the minor's date of birth, which follows today so she stays 16.
Texts are written so that each mention listed in ``planted.PLANTED_MENTIONS`` is the only one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

Ids = Callable[[int], int]

MARIA_ADDRESS = "1 Market St, San Francisco, CA 94105"
MARIA_COOKIE = "GA1.2.900000142.1622505600"
LENA_COOKIE = "GA1.2.900000216.1756684800"
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1"
QUOTE = (
    b"Renewal quote RQ-118\nCustomer: Blue Yonder Airlines\nProduct: Analytics Suite, 120 seats\n"
)


@dataclass(frozen=True)
class Row:
    table: str
    owner: str | None
    values: dict[str, Any]


def minor_birth_date(today: date) -> date:
    """Sixteen years and four to five months old on ``today``: a minor whenever tests run."""
    return date(today.year - 16, today.month, 1) - timedelta(days=120)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def rows_for(region: str, pid: Ids, today: date) -> list[Row]:
    if region == "us":
        return _us(pid)
    if region == "eu":
        return _eu(pid, today)
    return []


def _row(table: str, owner: str | None, pid: Ids, n: int, **values: Any) -> Row:
    return Row(table, owner, {"id": pid(n), **values})


def _us(p: Ids) -> list[Row]:
    northwind, contoso, priya, maria_user = p(1), p(2), p(1), p(2)
    maria, tom = p(1), p(2)
    return [
        _row("clients", None, p, 1, name="Northwind Traders", region="us", plan="enterprise",
             status="active", closed_at=None, billing_email="accounts@northwind.test",
             created_at=at("2020-03-02 09:00")),
        _row("clients", None, p, 2, name="Contoso Analytics", region="us", plan="professional",
             status="active", closed_at=None, billing_email="billing@contoso.test",
             created_at=at("2021-06-14 10:00")),
        _row("users", "priya", p, 1, client_id=northwind, email="priya.raman@northwind.test",
             full_name="Priya Raman", phone="(415) 555-0101", role="admin", status="active",
             closed_at=None, date_of_birth=date(1985, 2, 11), parental_consent=None,
             locale="en_US", last_login_ip="198.51.100.23", last_login_at=at("2026-03-02 08:10"),
             created_at=at("2020-03-02 09:05")),
        _row("users", "maria", p, 2, client_id=contoso, email="maria.jensen@example.org",
             full_name="Maria Jensen", phone="415.555.0142", role="admin", status="active",
             closed_at=None, date_of_birth=date(1988, 5, 17), parental_consent=None,
             locale="en_US", last_login_ip="203.0.113.42", last_login_at=at("2026-03-01 10:05"),
             created_at=at("2021-06-14 10:05")),
        _row("companies", None, p, 1, client_id=northwind, name="Blue Yonder Airlines",
             domain="blueyonder.test", phone="+1 415 555 0100", address="200 Mission St",
             city="San Francisco", country="US", created_at=at("2023-11-01 12:00")),
        _row("contacts", "maria", p, 1, client_id=northwind, company_id=p(1), owner_user_id=priya,
             email="Maria.Jensen@Example.org ", first_name="Maria", last_name="Jensen",
             job_title="Head of Procurement", phone="+1 (415) 555-0142", mobile=None,
             address="1 Market St", postal_code="94105", city="San Francisco", country="US",
             date_of_birth=None, lead_source="referral", created_at=at("2024-02-05 11:00")),
        _row("contacts", "tom", p, 2, client_id=northwind, company_id=p(1), owner_user_id=priya,
             email="tom.becker@example.net", first_name="Tom", last_name="Becker",
             job_title="IT Director", phone="+1 415 555 0177", mobile=None, address=None,
             postal_code="94105", city="San Francisco", country="US", date_of_birth=None,
             lead_source="trade fair", created_at=at("2023-11-20 15:30")),
        _row("deals", "maria", p, 1, client_id=northwind, contact_id=maria, company_id=p(1),
             owner_user_id=priya, title="Blue Yonder Airlines – Analytics Suite renewal",
             amount=48000.0, currency="USD", stage="negotiation",
             created_at=at("2026-02-01 09:00")),
        _row("activities", "maria", p, 1, client_id=northwind, contact_id=maria, user_id=priya,
             kind="call", subject="Call with Maria",
             details="Maria wants a demo of the reporting module before the renewal.",
             occurred_at=at("2026-02-03 15:00")),
        _row("activities", "tom", p, 2, client_id=northwind, contact_id=tom, user_id=priya,
             kind="meeting", subject="Intro meeting",
             details="Tom walked us through their current data stack.",
             occurred_at=at("2025-12-10 14:00")),
        _row("notes", "maria", p, 1, client_id=northwind, contact_id=maria, company_id=None,
             author_user_id=priya,
             body="Introduced by Tom Becker. Maria prefers e-mail over phone; decision in Q3.",
             created_at=at("2026-02-04 10:00")),
        _row("notes", "tom", p, 2, client_id=northwind, contact_id=tom, company_id=None,
             author_user_id=priya,
             body="Spoke with Maria Jensen (415-555-0142) about the renewal. Tom will review "
             "the security questionnaire.",
             created_at=at("2026-02-06 16:20")),
        _row("emails", "maria", p, 1, client_id=northwind, contact_id=maria, user_id=priya,
             direction="out", from_addr="priya.raman@northwind.test",
             to_addr="maria.jensen@example.org", cc=None, subject="Your renewal quote",
             body="Hi Maria,\n\nAs promised, the renewal quote is attached. Happy to walk you "
             "through it on Thursday.\n\nBest regards,\nPriya",
             message_id="<planted-1@mail.us.inextcrm.example.com>",
             sent_at=at("2026-02-05 09:30")),
        _row("attachments", "maria", p, 1, client_id=northwind, email_id=p(1),
             filename="renewal-quote.txt", content_type="text/plain", size=len(QUOTE),
             sha256=hashlib.sha256(QUOTE).hexdigest(), content=QUOTE),
        _row("meetings", None, p, 1, client_id=northwind, organizer_user_id=priya,
             title="Renewal review", starts_at=at("2026-02-12 16:00"), duration_min=45,
             provider="gotomeeting", external_id="g2m-900000001"),
        # Invited by address, not linked to her contact: found through the e-mail identity.
        _row("meeting_attendees", "maria", p, 1, client_id=northwind, meeting_id=p(1),
             contact_id=None, email="maria.jensen@example.org", name="Maria Jensen",
             response="accepted"),
        _row("meeting_attendees", "tom", p, 2, client_id=northwind, meeting_id=p(1),
             contact_id=tom, email="tom.becker@example.net", name="Tom Becker",
             response="accepted"),
        *[
            _row("invoices", "maria", p, k, client_id=contoso, user_id=maria_user,
                 number=f"US-P-2026-{k:04d}", issued_at=date(2026, 6 + k, 1), amount=1490.0,
                 currency="USD", status="paid", billing_name="Maria Jensen",
                 billing_address=MARIA_ADDRESS, billing_email="maria.jensen@example.org",
                 billing_phone="415.555.0142")
            for k in (1, 2, 3)
        ],
        _row("payment_methods", "maria", p, 1, client_id=contoso, user_id=maria_user,
             brand="visa", last4="4242", exp_month=8, exp_year=2028, holder_name="Maria Jensen",
             created_at=at("2021-06-14 10:10")),
        _row("marketing_subscriptions", "maria", p, 1, email="Maria.Jensen@example.org",
             list_name="product-news", status="subscribed", source="signup",
             consent_at=at("2022-03-01 12:00"), unsubscribed_at=None, ip_address="203.0.113.42"),
        _row("support_tickets", "maria", p, 1, client_id=contoso, user_id=maria_user,
             requester_email="maria.jensen@example.org", subject="CSV export fails",
             body="The export of the pipeline report stops after a few rows. Could you have a "
             "look?\n\nThanks,\nMaria",
             status="open", created_at=at("2026-03-03 09:00")),
        _row("support_tickets", "priya", p, 2, client_id=northwind, user_id=priya,
             requester_email="priya.raman@northwind.test", subject="Duplicate contact",
             body="Please merge the two records for Maria.Jensen@Example.org in our account; "
             "one has a trailing space.\n\nThanks,\nPriya",
             status="solved", created_at=at("2026-02-20 11:00")),
        # Before she signed up: same browser cookie, no user id (found only via the cookie).
        _row("visitor_analytics", "maria", p, 1, cookie_id=MARIA_COOKIE, user_id=None,
             ip_address="203.0.113.42", page="/pricing", referrer="https://www.google.com/",
             user_agent=UA, visited_at=at("2021-06-01 18:00")),
        _row("visitor_analytics", "maria", p, 2, cookie_id=MARIA_COOKIE, user_id=maria_user,
             ip_address="203.0.113.42", page="/login", referrer=None, user_agent=UA,
             visited_at=at("2026-03-01 10:04")),
        _row("visitor_analytics", "maria", p, 3, cookie_id=MARIA_COOKIE, user_id=maria_user,
             ip_address="203.0.113.42", page="/app/reports", referrer=None, user_agent=UA,
             visited_at=at("2026-03-01 10:06")),
        _row("integrations", None, p, 1, client_id=northwind, kind="google",
             account="crm-sync@northwind.test",
             credential_ref="vault://integrations/us/northwind/google",
             connected_by_user_id=priya, created_at=at("2020-03-03 09:00")),
        _row("integrations", None, p, 2, client_id=northwind, kind="gotomeeting",
             account="meetings@northwind.test",
             credential_ref="vault://integrations/us/northwind/gotomeeting",
             connected_by_user_id=priya, created_at=at("2020-03-03 09:10")),
        # The demo reaches all three services in one request through Northwind; in the
        # stand-ins this account shares the demo Dropbox folder with Fabrikam's.
        _row("integrations", None, p, 3, client_id=northwind, kind="dropbox",
             account="files@northwind.test",
             credential_ref="vault://integrations/us/northwind/dropbox",
             connected_by_user_id=priya, created_at=at("2021-01-12 09:00")),
    ]  # fmt: skip


def _eu(p: Ids, today: date) -> list[Row]:
    fabrikam = p(1)
    return [
        _row("clients", None, p, 1, name="Fabrikam GmbH", region="eu", plan="enterprise",
             status="active", closed_at=None, billing_email="buchhaltung@fabrikam.test",
             created_at=at("2020-09-01 09:00")),
        _row("users", "minor", p, 1, client_id=fabrikam, email="lena.vogt@fabrikam.test",
             full_name="Lena Vogt", phone=None, role="viewer", status="active", closed_at=None,
             date_of_birth=minor_birth_date(today), parental_consent=False, locale="de_DE",
             last_login_ip="192.0.2.16", last_login_at=at("2026-09-02 08:00"),
             created_at=at("2026-09-01 08:00")),
        _row("companies", None, p, 1, client_id=fabrikam, name="Fabrikam Logistik GmbH",
             domain="logistik.fabrikam.test", phone="+49 40 5550 1000", address="Am Sandtorkai 1",
             city="Hamburg", country="DE", created_at=at("2021-01-10 09:00")),
        _row("companies", None, p, 2, client_id=fabrikam, name="Wingtip Toys B.V.",
             domain="wingtiptoys.test", phone="+31 20 555 0100", address="Herengracht 1",
             city="Amsterdam", country="NL", created_at=at("2022-05-10 09:00")),
        _row("contacts", "maria", p, 1, client_id=fabrikam, company_id=None, owner_user_id=None,
             email="maria.jensen@example.org", first_name="Maria", last_name="Jensen",
             job_title="Consultant", phone="+14155550142", mobile=None, address=None,
             postal_code=None, city="Copenhagen", country="DK", date_of_birth=None,
             lead_source="webinar", created_at=at("2025-05-05 10:00")),
        _row("contacts", "maria_namesake", p, 2, client_id=fabrikam, company_id=p(1),
             owner_user_id=None, email="m.jensen@fabrikam.test", first_name="Maria",
             last_name="Jensen", job_title="Logistics Manager", phone="+49 40 5550 1234",
             mobile=None, address="Am Sandtorkai 1", postal_code="20457", city="Hamburg",
             country="DE", date_of_birth=None, lead_source="partner",
             created_at=at("2024-04-04 09:00")),
        _row("contacts", "jonas", p, 3, client_id=fabrikam, company_id=p(2), owner_user_id=None,
             email="jonas.weber@example.net", first_name="Jonas", last_name="Weber",
             job_title="Buyer", phone="+31 20 555 0199", mobile=None, address="Herengracht 1",
             postal_code="1015 BA", city="Amsterdam", country="NL", date_of_birth=None,
             lead_source="referral", created_at=at("2023-03-03 09:00")),
        _row("activities", "maria_namesake", p, 1, client_id=fabrikam, contact_id=p(2),
             user_id=None, kind="call", subject="Call with Maria",
             details="Maria asked for updated pallet pricing; call back next week.",
             occurred_at=at("2026-01-15 10:00")),
        _row("notes", "maria_namesake", p, 1, client_id=fabrikam, contact_id=p(2),
             company_id=None, author_user_id=None,
             body="Maria handles all freight contracts for the northern region.",
             created_at=at("2026-01-16 10:00")),
        _row("emails", "jonas", p, 1, client_id=fabrikam, contact_id=p(3), user_id=None,
             direction="in", from_addr="jonas.weber@example.net", to_addr="einkauf@fabrikam.test",
             cc=None, subject="Account handover",
             body="Hello,\n\nplease also loop in maria.jensen@example.org, she is taking over "
             "our account from January.\n\nKind regards,\nJonas",
             message_id="<planted-1@mail.eu.inextcrm.example.com>",
             sent_at=at("2025-12-01 08:45")),
        _row("visitor_analytics", "minor", p, 1, cookie_id=LENA_COOKIE, user_id=p(1),
             ip_address="192.0.2.16", page="/app/dashboard", referrer=None, user_agent=UA,
             visited_at=at("2026-09-02 08:01")),
        _row("integrations", None, p, 1, client_id=fabrikam, kind="dropbox",
             account="dropbox-sync@fabrikam.test",
             credential_ref="vault://integrations/eu/fabrikam/dropbox",
             connected_by_user_id=None, created_at=at("2020-09-02 09:00")),
    ]  # fmt: skip
