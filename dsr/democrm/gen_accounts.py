"""iNextCRM's own data: Client accounts, Users, billing, newsletter, support and web analytics."""

from __future__ import annotations

import hashlib

import numpy as np

from dsr.democrm import text
from dsr.democrm.gen_crm import Columns, addresses, after
from dsr.democrm.pools import PAGES, REFERRERS
from dsr.democrm.world import (
    DAY,
    END,
    START,
    Spread,
    World,
    email_variants,
    nullify,
    to_dates,
    variant_codes,
)
from dsr.democrm.world import to_datetimes as dt

PLANS = ("starter", "professional", "enterprise")
ROLES = ("member", "member", "member", "manager", "viewer")
BRANDS = ("visa", "mastercard", "amex", "sepa_debit")
LISTS = ("product-news", "webinars", "release-notes")


def admin(w: World, k: np.ndarray) -> np.ndarray:
    """The first User of each Client: its administrator and billing contact."""
    return w.user_bounds[k]


def _ips(rng: np.random.Generator, n: int) -> list[str]:
    octets = rng.integers(1, 255, (n, 4)).tolist()
    return [f"{a}.{b}.{c}.{d}" for a, b, c, d in octets]


def clients(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    k = np.arange(lo, hi)
    n = len(k)
    pool = w.pools.companies
    names = [
        pool[w.client_name[x % len(pool)]] + (f" {x // len(pool) + 1}" if x >= len(pool) else "")
        for x in k.tolist()
    ]
    # Small Clients bill to their administrator's own address: personal data in a tenant row.
    personal = rng.random(n) < 0.2
    mailbox = [f"billing@client{x}.example.com" for x in k.tolist()]
    own = w.emails(w.user_person(admin(w, k)))
    return {
        "id": w.ids(k),
        "name": names,
        "region": [w.region] * n,
        "plan": text.pick(rng, PLANS, n),
        "status": ["closed" if c else "active" for c in w.client_closed[k].tolist()],
        "closed_at": nullify(dt(w.client_closed_at[k]), w.client_closed[k]),
        "billing_email": [
            o if p else m for o, m, p in zip(own, mailbox, personal.tolist(), strict=True)
        ],
        "created_at": dt(w.client_created[k]),
    }


def users(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    u = np.arange(lo, hi)
    n = len(u)
    ps = w.user_person(u)
    is_admin = u == admin(w, w.user_client[u])
    # A few apprentices under 18 — always with parental consent; the planted minor has none.
    minor = rng.random(n) < 0.005
    adult_born = rng.integers(-12 * 365 * DAY, 33 * 365 * DAY, n)
    minor_born = rng.integers(39 * 365 * DAY, 41 * 365 * DAY, n)
    born = np.where(minor, minor_born, adult_born)
    login = after(rng, w.user_created[u])
    return {
        "id": w.ids(u),
        "client_id": w.ids(w.user_client[u]),
        "email": email_variants(w.emails(ps), variant_codes(rng, n)),
        "full_name": w.full_names(ps),
        "phone": nullify(w.phones(ps, rng.integers(0, 6, n)), rng.random(n) < 0.6),
        "role": [
            "admin" if a else r
            for a, r in zip(is_admin.tolist(), text.pick(rng, ROLES, n), strict=True)
        ],
        "status": ["closed" if c else "active" for c in w.user_closed[u].tolist()],
        "closed_at": nullify(dt(w.user_closed_at[u]), w.user_closed[u]),
        "date_of_birth": nullify(to_dates(born), minor | (rng.random(n) < 0.55)),
        "parental_consent": [True if m else None for m in minor.tolist()],
        "locale": w.pools.locales_array[w.person_locale[ps]].tolist(),
        "last_login_ip": _ips(rng, n),
        "last_login_at": dt(login),
        "created_at": dt(w.user_created[u]),
    }


def invoices(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    n = len(i)
    k = i // 12
    billing = admin(w, k)
    ps = w.user_person(billing)
    street, city, postcode = addresses(w, rng, w.person_locale[ps])
    mailbox = rng.random(n) < 0.3
    addr = email_variants(w.emails(ps), variant_codes(rng, n))
    issued = END - (12 - i % 12) * 30 * DAY - rng.integers(0, 5 * DAY, n)
    return {
        "id": w.ids(i),
        "client_id": w.ids(k),
        "user_id": w.ids(billing),
        "number": [f"{w.region.upper()}-{x:08d}" for x in i.tolist()],
        "issued_at": to_dates(issued),
        "amount": (np.round(rng.lognormal(6, 0.8, n) * 100) / 100).tolist(),
        "currency": ["EUR" if w.region == "eu" else "USD"] * n,
        "status": ["open" if x % 12 == 11 else "paid" for x in i.tolist()],
        "billing_name": w.full_names(ps),
        "billing_address": [
            f"{s}, {p} {c}" for s, p, c in zip(street, postcode, city, strict=True)
        ],
        "billing_email": [
            f"billing@client{x}.example.com" if m else a
            for x, m, a in zip(k.tolist(), mailbox.tolist(), addr, strict=True)
        ],
        "billing_phone": nullify(w.phones(ps, rng.integers(0, 6, n)), rng.random(n) < 0.5),
    }


def payment_methods(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    k = np.arange(lo, hi)
    n = len(k)
    billing = admin(w, k)
    return {
        "id": w.ids(k),
        "client_id": w.ids(k),
        "user_id": w.ids(billing),
        "brand": text.pick(rng, BRANDS, n),
        "last4": [f"{x:04d}" for x in rng.integers(0, 10_000, n).tolist()],
        "exp_month": rng.integers(1, 13, n).tolist(),
        "exp_year": rng.integers(2026, 2031, n).tolist(),
        "holder_name": w.full_names(w.user_person(billing)),
        "created_at": dt(w.user_created[billing] + rng.integers(0, 30 * DAY, n)),
    }


def subscriber_users(w: World) -> int:
    return int(w.sizes.users * 0.7)


def marketing_subscriptions(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    n = len(i)
    n_users = subscriber_users(w)
    g = w.sizes.guests
    # Users who opted in, then newsletter leads who never became Users.
    ps = np.where(
        i < n_users,
        w.user_person(Spread(w.sizes.users, 7)(i)),
        w.guest_person(g // 2 + (i - n_users) % max(1, g - g // 2)),
    )
    consent = START + (rng.random(n) * (END - START)).astype(np.int64)
    unsubscribed = rng.random(n) < 0.15
    return {
        "id": w.ids(i),
        "email": email_variants(w.emails(ps), variant_codes(rng, n)),
        "list_name": text.pick(rng, LISTS, n),
        "status": ["unsubscribed" if u else "subscribed" for u in unsubscribed.tolist()],
        "source": text.pick(rng, ("signup", "webinar", "trial", "event"), n),
        "consent_at": dt(consent),
        "unsubscribed_at": nullify(dt(after(rng, consent)), unsubscribed),
        "ip_address": _ips(rng, n),
    }


def support_tickets(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    n = len(i)
    u = Spread(w.sizes.users, 8)(i)
    tenant = w.user_client[u]
    ps = w.user_person(u)
    first = w.first_names(ps)
    topic = rng.integers(0, len(text.TICKET_SUBJECTS), n)
    bodies = text.fill([text.TICKET_BODIES[t] for t in topic.tolist()], first, rng, w)
    # Users ask support about their own customers: mention a contact of their tenant.
    other = w.pick(rng, w.contact_bounds, tenant)
    extra = text.mentions(w, rng, np.where(rng.random(n) < text.MENTION_RATE, other, -1), first)
    return {
        "id": w.ids(i),
        "client_id": w.ids(tenant),
        "user_id": w.ids(u),
        "requester_email": email_variants(w.emails(ps), variant_codes(rng, n)),
        "subject": [text.TICKET_SUBJECTS[t] for t in topic.tolist()],
        "body": [
            f"Hello,\n\n{b}{x}\n\nThanks,\n{f}"
            for b, x, f in zip(bodies, extra, first, strict=True)
        ],
        "status": text.pick(rng, ("open", "pending", "solved", "closed"), n),
        "created_at": dt(after(rng, w.user_created[u])),
    }


def visitor_counts(w: World) -> tuple[int, int, int]:
    """Rows signed in (2 per user), earlier anonymous visits of users, strangers."""
    u = w.sizes.users
    return 2 * u, max(1, u // 5), u


def cookie(w: World, u: int) -> str:
    return hashlib.blake2b(f"{w.cookie_salt}:{u}".encode(), digest_size=16).hexdigest()


def visitor_analytics(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    n = len(i)
    signed, earlier, _ = visitor_counts(w)
    users = w.sizes.users
    u = np.where(i < signed, i % users, Spread(users, 9)(i - signed))
    is_signed = i < signed
    is_user = i < signed + earlier
    # A user's browser was seen anonymously before the sign-up: same cookie, no user id.
    before = w.user_created[u] - rng.integers(DAY, 60 * DAY, n)
    seen = np.where(is_signed, after(rng, w.user_created[u]), before)
    seen = np.where(is_user, seen, START + (rng.random(n) * (END - START)).astype(np.int64))
    strangers = rng.integers(0, 2**63, (n, 2)).tolist()
    cookies = [
        cookie(w, x) if own else f"{a:016x}{b:016x}"[:32]
        for x, own, (a, b) in zip(u.tolist(), is_user.tolist(), strangers, strict=True)
    ]
    return {
        "id": w.ids(i),
        "cookie_id": cookies,
        "user_id": nullify(w.ids(u), is_signed),
        "ip_address": _ips(rng, n),
        "page": text.pick(rng, PAGES, n),
        "referrer": [r or None for r in text.pick(rng, REFERRERS, n)],
        "user_agent": w.pools.user_agents[rng.integers(0, len(w.pools.user_agents), n)].tolist(),
        "visited_at": dt(seen),
    }
