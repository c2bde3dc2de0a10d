"""Client Data: what a Client's Users keep about their own customers (contacts and their history).

Each function returns the columns of rows ``[lo, hi)`` of one table as lists, drawn from ``rng``
(one generator per table chunk) and the shared ``World``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from dsr.democrm import text
from dsr.democrm.pools import JOB_TITLES, N_CITIES, N_COMPANIES, N_STREETS, PRODUCTS
from dsr.democrm.world import (
    DAY,
    END,
    Spread,
    World,
    email_variants,
    nullify,
    to_dates,
    variant_codes,
)
from dsr.democrm.world import to_datetimes as dt

Columns = dict[str, list]
LEAD_SOURCES = ("website", "referral", "trade fair", "cold call", "webinar", "partner")
STAGES = ("lead", "qualified", "proposal", "negotiation", "won", "lost")


def after(rng: np.random.Generator, start: np.ndarray) -> np.ndarray:
    """A moment between ``start`` and the end of the synthetic period."""
    return start + (rng.random(len(start)) * (END - start)).astype(np.int64)


def addresses(w: World, rng: np.random.Generator, locale: np.ndarray) -> tuple[list, list, list]:
    n = len(locale)
    street = w.pools.streets[locale * N_STREETS + rng.integers(0, N_STREETS, n)].tolist()
    city_i = locale * N_CITIES + rng.integers(0, N_CITIES, n)
    return street, w.pools.cities[city_i].tolist(), w.pools.postcodes[city_i].tolist()


def companies(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    k = np.arange(lo, hi)
    name_i = w.company_name[k]
    locale = name_i // N_COMPANIES
    street, city, _ = addresses(w, rng, locale)
    switchboard = []
    for loc, sub in zip(locale.tolist(), (k * 7_919 % 7_000 + 2_000).tolist(), strict=True):
        cc, codes, digits = w.pools.phone_plan(loc)
        switchboard.append(f"+{cc} {codes[0]} {sub}{'0' * (digits - 4)}")
    return {
        "id": w.ids(k),
        "client_id": w.ids(w.company_client[k]),
        "name": w.pools.companies[name_i].tolist(),
        "domain": w.company_domain(k),
        "phone": switchboard,
        "address": street,
        "city": city,
        "country": w.pools.country[locale].tolist(),
        "created_at": dt(
            w.client_created[w.company_client[k]] + rng.integers(0, 900 * DAY, len(k))
        ),
    }


def contacts(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    c = np.arange(lo, hi)
    n = len(c)
    locale = w.person_locale[c]
    street, city, postcode = addresses(w, rng, locale)
    born = rng.integers(-20 * 365 * DAY, 25 * 365 * DAY, n)  # 1950 .. 1995 relative to 1970
    return {
        "id": w.ids(c),
        "client_id": w.ids(w.contact_client[c]),
        "company_id": w.ids(w.contact_company[c]),
        "owner_user_id": w.ids(w.contact_owner[c]),
        "email": nullify(email_variants(w.emails(c), variant_codes(rng, n)), rng.random(n) < 0.95),
        "first_name": w.first_names(c),
        "last_name": w.last_names(c),
        "job_title": text.pick(rng, JOB_TITLES, n),
        "phone": nullify(w.phones(c, rng.integers(0, 6, n)), rng.random(n) < 0.7),
        "mobile": nullify(w.phones(c, rng.integers(0, 6, n), line=1), rng.random(n) < 0.35),
        "address": nullify(street, rng.random(n) < 0.6),
        "postal_code": postcode,
        "city": city,
        "country": w.pools.country[locale].tolist(),
        "date_of_birth": nullify(to_dates(born), rng.random(n) < 0.1),
        "lead_source": text.pick(rng, LEAD_SOURCES, n),
        "created_at": dt(w.contact_created[c]),
    }


def deals(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    n = len(i)
    c = Spread(w.sizes.contacts, 3)(i)
    company = w.pools.companies[w.company_name[w.contact_company[c]]].tolist()
    titles = [
        t.format(company=co, product=p, seats=s)
        for t, co, p, s in zip(
            text.pick(rng, text.DEAL_TITLES, n),
            company,
            text.pick(rng, PRODUCTS, n),
            rng.integers(5, 500, n).tolist(),
            strict=True,
        )
    ]
    return {
        "id": w.ids(i),
        "client_id": w.ids(w.contact_client[c]),
        "contact_id": w.ids(c),
        "company_id": w.ids(w.contact_company[c]),
        "owner_user_id": w.ids(w.contact_owner[c]),
        "title": titles,
        "amount": (np.round(rng.lognormal(9, 1.1, n) * 100) / 100).tolist(),
        "currency": ["EUR" if w.region == "eu" else "USD"] * n,
        "stage": text.pick(rng, STAGES, n),
        "created_at": dt(after(rng, w.contact_created[c])),
    }


def activities(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    n = len(i)
    c = Spread(w.sizes.contacts, 4)(i)
    kind = rng.integers(0, len(text.ACTIVITY_KINDS), n)
    first = w.first_names(c)
    subjects = [
        text.ACTIVITY_SUBJECTS[k][j] for k, j in zip(kind, rng.integers(0, 4, n), strict=True)
    ]
    details = text.fill(text.pick(rng, text.ACTIVITY_DETAILS, n), first, rng, w)
    extra = text.mentions(w, rng, text.other_contacts(w, rng, c), first)
    details = [d + x for d, x in zip(details, extra, strict=True)]
    return {
        "id": w.ids(i),
        "client_id": w.ids(w.contact_client[c]),
        "contact_id": w.ids(c),
        "user_id": w.ids(w.pick(rng, w.user_bounds, w.contact_client[c])),
        "kind": [text.ACTIVITY_KINDS[k] for k in kind.tolist()],
        "subject": text.fill(subjects, first, rng, w),
        "details": nullify(details, rng.random(n) < 0.8),
        "occurred_at": dt(after(rng, w.contact_created[c])),
    }


def notes(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    n = len(i)
    c = Spread(w.sizes.contacts, 5)(i)
    on_company = rng.random(n) < 0.15
    company = np.where(on_company, rng.integers(0, w.sizes.companies, n), w.contact_company[c])
    tenant = np.where(on_company, w.company_client[company], w.contact_client[c])
    first = w.first_names(c)
    bodies = text.fill(text.pick(rng, text.NOTE_BODIES, n), first, rng, w)
    company_bodies = text.fill(text.pick(rng, text.COMPANY_NOTES, n), first, rng, w)
    extra = text.mentions(w, rng, text.other_contacts(w, rng, c), first)
    body = [
        cb if oc else b + x
        for b, cb, x, oc in zip(bodies, company_bodies, extra, on_company.tolist(), strict=True)
    ]
    created = np.where(on_company, END - rng.integers(0, 700 * DAY, n), w.contact_created[c])
    return {
        "id": w.ids(i),
        "client_id": w.ids(tenant),
        "contact_id": nullify(w.ids(c), ~on_company),
        "company_id": nullify(w.ids(company), on_company),
        "author_user_id": w.ids(w.pick(rng, w.user_bounds, tenant)),
        "body": body,
        "created_at": dt(after(rng, created)),
    }


def emails(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    n = len(i)
    c = Spread(w.sizes.contacts, 6)(i)
    user = w.contact_owner[c]
    outbound = rng.random(n) < 0.6
    contact_addr = email_variants(w.emails(c), variant_codes(rng, n))
    user_addr = w.emails(w.user_person(user))
    contact_first = w.first_names(c)
    user_first = w.first_names(w.user_person(user))
    user_name = w.full_names(w.user_person(user))
    contact_name = w.full_names(c)
    to_first = [
        cf if o else uf
        for cf, uf, o in zip(contact_first, user_first, outbound.tolist(), strict=True)
    ]
    signature = [
        un if o else cn
        for un, cn, o in zip(user_name, contact_name, outbound.tolist(), strict=True)
    ]
    extra = text.mentions(w, rng, text.other_contacts(w, rng, c), contact_first)
    cc_other = w.pick(rng, w.contact_bounds, w.contact_client[c])
    cc = nullify(w.emails(cc_other), (rng.random(n) < 0.05) & (cc_other != c))
    return {
        "id": w.ids(i),
        "client_id": w.ids(w.contact_client[c]),
        "contact_id": w.ids(c),
        "user_id": w.ids(user),
        "direction": ["out" if o else "in" for o in outbound.tolist()],
        "from_addr": [
            u if o else a
            for u, a, o in zip(user_addr, contact_addr, outbound.tolist(), strict=True)
        ],
        "to_addr": [
            a if o else u
            for u, a, o in zip(user_addr, contact_addr, outbound.tolist(), strict=True)
        ],
        "cc": cc,
        "subject": text.fill(text.pick(rng, text.EMAIL_SUBJECTS, n), contact_first, rng, w),
        "body": text.email_bodies(w, rng, to_first, signature, extra),
        "message_id": [f"<{x}.crm@mail.{w.region}.inextcrm.example.com>" for x in w.ids(i)],
        "sent_at": dt(after(rng, w.contact_created[c])),
    }


def attachment_email(k: np.ndarray) -> np.ndarray:
    """Every twentieth e-mail (with a jitter) carries one attachment."""
    return k * 20 + (k * 7) % 20


def attachments(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    k = np.arange(lo, hi)
    n = len(k)
    e = attachment_email(k)
    c = Spread(w.sizes.contacts, 6)(e)
    kinds = text.pick(rng, ("quote", "agenda", "notes", "order"), n)
    products = text.pick(rng, PRODUCTS, n)
    seats = rng.integers(5, 500, n).tolist()
    companies = w.pools.companies[w.company_name[w.contact_company[c]]].tolist()
    contents = [
        f"{kind.title()} {num}\nCustomer: {co}\nProduct: {p}\nSeats: {s}\n".encode()
        for kind, num, co, p, s in zip(kinds, k.tolist(), companies, products, seats, strict=True)
    ]
    return {
        "id": w.ids(k),
        "client_id": w.ids(w.contact_client[c]),
        "email_id": w.ids(e),
        "filename": [f"{kind}-{num}.txt" for kind, num in zip(kinds, k.tolist(), strict=True)],
        "content_type": ["text/plain"] * n,
        "size": [len(b) for b in contents],
        "sha256": [hashlib.sha256(b).hexdigest() for b in contents],
        "content": contents,
    }


def meetings(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    m = np.arange(lo, hi)
    n = len(m)
    organizer = w.meeting_organizer[m]
    provider = text.pick(rng, ("gotomeeting", "google", None), n)
    titles = text.fill(text.pick(rng, text.MEETING_TITLES, n), [""] * n, rng, w)
    starts = w.user_created[organizer] + (rng.random(n) * (END - w.user_created[organizer]))
    return {
        "id": w.ids(m),
        "client_id": w.ids(w.meeting_client[m]),
        "organizer_user_id": w.ids(organizer),
        "title": titles,
        "starts_at": dt((starts.astype(np.int64) // 1800) * 1800),
        "duration_min": text.pick(rng, (15, 30, 45, 60, 90), n),
        "provider": provider,
        "external_id": [
            None if p is None else f"{p[:3]}-{x:09d}"
            for p, x in zip(provider, rng.integers(0, 10**9, n).tolist(), strict=True)
        ],
    }


def meeting_attendees(w: World, rng: np.random.Generator, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    n = len(i)
    m = i // 3
    tenant = w.meeting_client[m]
    contact = w.pick(rng, w.contact_bounds, tenant)
    guest = rng.random(n) < 0.2
    person = np.where(guest, w.guest_person(rng.integers(0, w.sizes.guests // 2 + 1, n)), contact)
    return {
        "id": w.ids(i),
        "client_id": w.ids(tenant),
        "meeting_id": w.ids(m),
        "contact_id": nullify(w.ids(contact), ~guest),
        "email": email_variants(w.emails(person), variant_codes(rng, n)),
        "name": nullify(w.full_names(person), rng.random(n) < 0.9),
        "response": text.pick(rng, ("accepted", "tentative", "declined", "none"), n),
    }
