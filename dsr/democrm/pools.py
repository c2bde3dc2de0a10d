"""Value pools drawn once from Faker, so a million rows cost numpy indexing, not Faker calls.

Pools are per region (``us``: American names and addresses; ``eu``: several European locales)
and depend only on (region, seed). Surnames of the planted cast are removed, so no synthetic
person can be mistaken for one of them, by row or by a mention in free text.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from faker import Faker

LOCALES = {
    "us": ("en_US",),
    "eu": ("de_DE", "fr_FR", "nl_NL", "da_DK", "it_IT", "es_ES", "pl_PL", "sv_SE"),
}
# Fallback for the other hosting regions: English-speaking names, the region's own ids.
DEFAULT_LOCALES = ("en_US", "en_GB")
COUNTRY = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "nl_NL": "NL"}
COUNTRY |= {"da_DK": "DK", "it_IT": "IT", "es_ES": "ES", "pl_PL": "PL", "sv_SE": "SE"}
# (country calling code, area codes, subscriber digits). Subscriber numbers never start with 555:
# that prefix is the planted cast's, so a synthetic number cannot equal a planted one.
PHONE_PLAN = {
    "en_US": ("1", ("212", "213", "312", "415", "617", "206", "303", "512", "305", "404"), 7),
    "en_GB": ("44", ("20", "161", "131", "117"), 7),
    "de_DE": ("49", ("30", "89", "69", "221", "211", "40"), 7),
    "fr_FR": ("33", ("1", "4", "5"), 8),
    "nl_NL": ("31", ("20", "10", "70", "30"), 7),
    "da_DK": ("45", ("3", "2", "7"), 7),
    "it_IT": ("39", ("02", "06", "011"), 7),
    "es_ES": ("34", ("91", "93", "96"), 7),
    "pl_PL": ("48", ("22", "12", "61"), 7),
    "sv_SE": ("46", ("8", "31", "40"), 7),
}
RESERVED_SURNAMES = {"jensen", "becker", "vogt", "raman", "weber"}
_NAME_OK = re.compile(r"^[^\W\d_]+(?:[ '’.\-][^\W\d_]+)*$")
_ASCII_FIX = str.maketrans({"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ł": "l"})

N_FIRST, N_LAST, N_STREETS, N_CITIES, N_COMPANIES, N_PHRASES = 240, 320, 300, 120, 400, 300

PRODUCTS = (
    "Analytics Suite", "Sales Cloud", "Support Desk", "Marketing Hub", "Data Connector",
    "Mobile App", "Premium Support", "Onboarding Package", "API Add-on", "Reporting Module",
)  # fmt: skip
JOB_TITLES = (
    "CEO", "CFO", "Head of Sales", "Sales Manager", "Account Executive", "Office Manager",
    "Procurement Lead", "IT Director", "Marketing Manager", "Operations Manager", "Buyer",
    "Product Owner", "Consultant", "Founder", "Controller",
)  # fmt: skip
PAGES = (
    "/", "/pricing", "/features", "/features/reporting", "/blog", "/blog/gdpr-checklist",
    "/integrations/google", "/integrations/dropbox", "/signup", "/login", "/app/dashboard",
    "/app/contacts", "/app/deals", "/app/reports", "/contact", "/careers", "/docs/api",
)  # fmt: skip
REFERRERS = ("https://www.google.com/", "https://www.bing.com/", "https://www.linkedin.com/", "")


def ascii_slug(text: str) -> str:
    """A mailbox-safe lower-case form of a name: accents dropped, non-letters removed."""
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_FIX))
    return "".join(c for c in folded.lower() if "a" <= c <= "z")


@dataclass(frozen=True)
class Pools:
    """Arrays of strings (numpy object arrays, so a vector of indexes picks a column)."""

    locales: tuple[str, ...]
    locales_array: np.ndarray
    first: np.ndarray  # every locale's first names, concatenated
    last: np.ndarray
    first_slug: np.ndarray
    last_slug: np.ndarray
    first_range: np.ndarray  # per locale: [start, stop) into ``first``
    last_range: np.ndarray
    streets: np.ndarray  # per locale, N_STREETS each
    cities: np.ndarray  # per locale, N_CITIES each
    postcodes: np.ndarray
    companies: np.ndarray  # per locale, N_COMPANIES each
    company_slug: np.ndarray
    phrases: np.ndarray  # business phrases for free text
    user_agents: np.ndarray
    country: np.ndarray  # per locale

    def phone_plan(self, locale: int) -> tuple[str, tuple[str, ...], int]:
        return PHONE_PLAN[self.locales[locale]]


def _unique(
    make: Callable[[], object], n: int, ok: Callable[[str], bool] | None = None, tries: int = 40
) -> list[str]:
    """Up to ``n`` distinct values from ``make`` (a locale may have fewer), in draw order."""
    seen: dict[str, None] = {}
    for _ in range(n * tries):
        value = " ".join(str(make()).split())
        if value and (ok is None or ok(value)):
            seen.setdefault(value, None)
        if len(seen) == n:
            break
    return list(seen)


def _person_name_ok(value: str) -> bool:
    return bool(_NAME_OK.match(value)) and len(ascii_slug(value)) >= 2


def _surname_ok(value: str) -> bool:
    reserved = any(part in RESERVED_SURNAMES for part in ascii_slug_words(value))
    return _person_name_ok(value) and not reserved


def ascii_slug_words(value: str) -> list[str]:
    return [ascii_slug(w) for w in re.split(r"[ '’.\-]", value) if w]


@cache
def pools_for(region: str, seed: int) -> Pools:
    """Draw the pools for one region; cached, because test suites seed many small databases."""
    locales = LOCALES.get(region, DEFAULT_LOCALES)
    fake = Faker(list(locales))
    fake.seed_instance(zlib.crc32(f"{region}:{seed}".encode()))
    first: list[str] = []
    last: list[str] = []
    first_range, last_range = [], []
    streets, cities, postcodes, companies = [], [], [], []
    for loc in locales:
        f = fake[loc]
        start = len(first)
        first += _unique(f.first_name, N_FIRST, _person_name_ok)
        first_range.append((start, len(first)))
        start = len(last)
        last += _unique(f.last_name, N_LAST, _surname_ok)
        last_range.append((start, len(last)))
        streets += [" ".join(f.street_address().split()) for _ in range(N_STREETS)]
        cities += [f.city() for _ in range(N_CITIES)]
        postcodes += [str(f.postcode()) for _ in range(N_CITIES)]
        companies += _fill(_unique(f.company, N_COMPANIES), N_COMPANIES)
    # Business phrases and browsers in English everywhere: that is what CRM users type and run.
    en = Faker("en_US")
    en.seed_instance(zlib.crc32(f"{region}:{seed}:en".encode()))
    phrases = _fill(_unique(en.bs, N_PHRASES), N_PHRASES)
    agents = [en.user_agent() for _ in range(60)]

    def arr(values: list) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    return Pools(
        locales=locales,
        locales_array=arr(list(locales)),
        first=arr(first),
        last=arr(last),
        first_slug=arr([ascii_slug(v) for v in first]),
        last_slug=arr([ascii_slug(v) for v in last]),
        first_range=np.array(first_range, dtype=np.int64),
        last_range=np.array(last_range, dtype=np.int64),
        streets=arr(streets),
        cities=arr(cities),
        postcodes=arr(postcodes),
        companies=arr(companies),
        company_slug=arr([ascii_slug(v) for v in companies]),
        phrases=arr(phrases),
        user_agents=arr(agents),
        country=arr([COUNTRY.get(loc, "US") for loc in locales]),
    )


def _fill(values: list[str], n: int) -> list[str]:
    """Repeat a short unique list up to ``n`` entries (a locale with few distinct values)."""
    return [values[i % len(values)] for i in range(n)]
