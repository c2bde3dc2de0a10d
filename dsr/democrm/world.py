"""The shape of one synthetic CRM: how many rows, who belongs to which tenant, who everyone is.

Everything that more than one table needs (a contact's tenant, a user's e-mail, a meeting's
tenant) lives here as small numpy arrays or as a formula over an index, so tables can be generated
chunk by chunk, independently, and identically on every run.

People share one index space: contacts ``[0, N)``, then users, then guests (meeting guests and
newsletter leads). A person's name, e-mail and phone are functions of that index.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from dsr.democrm.pools import Pools, pools_for
from dsr.democrm.regions import region_id_base

START = int(np.datetime64("2019-01-01T00:00:00", "s").astype(np.int64))
END = int(np.datetime64("2026-10-31T00:00:00", "s").astype(np.int64))
DAY = 86_400
CHUNK = 20_000
_PRIMES = (1_000_003, 998_244_353, 754_974_721, 167_772_161, 469_762_049, 2_147_483_647)


def rng_for(seed: int, region: str, *parts: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(region.encode()), *parts])


def to_datetimes(seconds: np.ndarray) -> list:
    return seconds.astype("datetime64[s]").astype("datetime64[us]").tolist()


def to_dates(seconds: np.ndarray) -> list:
    return seconds.astype("datetime64[s]").astype("datetime64[D]").tolist()


def nullify(values: list, keep: np.ndarray) -> list:
    return [v if k else None for v, k in zip(values, keep.tolist(), strict=True)]


class Spread:
    """A fixed bijection of ``range(n)``: row i of a child table picks parent ``spread(i)``.

    Every parent is hit equally often, without storing which child points at which parent.
    """

    def __init__(self, n: int, salt: int) -> None:
        self.n = max(n, 1)
        self.mult = next(p for p in _PRIMES[salt % len(_PRIMES) :] + _PRIMES if math.gcd(p, n) == 1)
        self.add = (salt * 7_919) % self.n

    def __call__(self, i: np.ndarray) -> np.ndarray:
        return (i * self.mult + self.add) % self.n


@dataclass(frozen=True)
class Sizes:
    contacts: int
    users: int
    clients: int
    companies: int
    guests: int
    meetings: int

    @classmethod
    def for_contacts(cls, n: int) -> Sizes:
        users = max(5, n // 50)
        clients = max(3, users // 20)
        return cls(
            contacts=n,
            users=users,
            clients=clients,
            companies=max(2 * clients, n // 10),
            guests=max(10, n // 20 + users // 4),
            meetings=max(1, n // 20),
        )


def _bounds(weights: np.ndarray, total: int, minimum: int) -> np.ndarray:
    """Split ``total`` rows over tenants in proportion to ``weights``, at least ``minimum`` each."""
    spare = total - minimum * len(weights)
    shares = np.floor(np.cumsum(weights) / weights.sum() * spare).astype(np.int64)
    counts = np.diff(np.concatenate(([0], shares))) + minimum
    counts[-1] += total - counts.sum()
    return np.concatenate(([0], np.cumsum(counts)))


class World:
    """Tenancy and identities of every synthetic person in one region's CRM."""

    def __init__(self, region: str, contacts: int, seed: int) -> None:
        self.region, self.seed = region, seed
        self.base = region_id_base(region)
        self.sizes = s = Sizes.for_contacts(contacts)
        self.pools: Pools = pools_for(region, seed)
        rng = rng_for(seed, region, 0)
        # A few large tenants and a long tail, as in any SaaS.
        weights = 1.0 / np.arange(1, s.clients + 1) ** 0.8
        rng.shuffle(weights)
        self.contact_bounds = _bounds(weights, s.contacts, 1)
        self.user_bounds = _bounds(weights, s.users, 1)
        self.company_bounds = _bounds(weights, s.companies, 1)
        self.contact_client = self._owner(self.contact_bounds, s.contacts)
        self.user_client = self._owner(self.user_bounds, s.users)
        self.company_client = self._owner(self.company_bounds, s.companies)
        self.contact_company = self.pick(rng, self.company_bounds, self.contact_client)
        self.contact_owner = self.pick(rng, self.user_bounds, self.contact_client)
        self.contact_created = rng.integers(START, END - 30 * DAY, s.contacts)
        self.client_created = rng.integers(START, START + 3 * 365 * DAY, s.clients)
        self.client_closed = rng.random(s.clients) < 0.05
        self.client_closed_at = rng.integers(END - 700 * DAY, END + 20 * DAY, s.clients)
        self.user_created = self.client_created[self.user_client] + rng.integers(
            0, 400 * DAY, s.users
        )
        # 10% of users closed; a closed Client closes all its users on the same day.
        closed = rng.random(s.users) < 0.10
        closed_at = rng.integers(END - 700 * DAY, END + 20 * DAY, s.users)
        by_client = self.client_closed[self.user_client]
        self.user_closed = closed | by_client
        self.user_closed_at = np.where(
            by_client, self.client_closed_at[self.user_client], closed_at
        )
        self.meeting_organizer = rng.integers(0, s.users, s.meetings)
        self.meeting_client = self.user_client[self.meeting_organizer]
        # People: locale, first and last name for contacts + users + guests.
        n_people = s.contacts + s.users + s.guests
        p = self.pools
        self.person_locale = rng.integers(0, len(p.locales), n_people)
        lo, hi = p.first_range[self.person_locale].T
        self.person_first = lo + (rng.random(n_people) * (hi - lo)).astype(np.int64)
        lo, hi = p.last_range[self.person_locale].T
        self.person_last = lo + (rng.random(n_people) * (hi - lo)).astype(np.int64)
        self.person_style = rng.integers(0, 4, n_people)
        self.person_area = rng.integers(0, 6, n_people)
        self.person_webmail = rng.random(n_people) < 0.4
        self.company_name = rng.integers(0, len(p.companies), s.companies)
        self.client_name = rng.permutation(len(p.companies))
        self.cookie_salt = int(rng.integers(0, 2**62))
        # No synthetic Client connects an Integrated Service: only the planted ones do
        # (dsr.democrm.planted_rows), each with a credential the local stand-ins accept
        # (standins.demo). A connected account without one would make every request that
        # reaches its Client fail with "no credential", so none is seeded.

    def ids(self, idx: np.ndarray) -> list[int]:
        """Primary keys of rows ``idx`` (0-based) in this region's id range."""
        return (np.asarray(idx, dtype=np.int64) + self.base + 1).tolist()

    @staticmethod
    def _owner(bounds: np.ndarray, n: int) -> np.ndarray:
        return np.searchsorted(bounds, np.arange(n), side="right") - 1

    @staticmethod
    def pick(rng: np.random.Generator, bounds: np.ndarray, tenant: np.ndarray) -> np.ndarray:
        """A random row index inside each given tenant's block."""
        lo, hi = bounds[tenant], bounds[tenant + 1]
        return lo + (rng.random(len(tenant)) * (hi - lo)).astype(np.int64)

    # -- people -------------------------------------------------------------------------------

    def user_person(self, u: np.ndarray) -> np.ndarray:
        return u + self.sizes.contacts

    def guest_person(self, g: np.ndarray) -> np.ndarray:
        return g + self.sizes.contacts + self.sizes.users

    def first_names(self, ps: np.ndarray) -> list[str]:
        return self.pools.first[self.person_first[ps]].tolist()

    def last_names(self, ps: np.ndarray) -> list[str]:
        return self.pools.last[self.person_last[ps]].tolist()

    def full_names(self, ps: np.ndarray) -> list[str]:
        return [f"{a} {b}" for a, b in zip(self.first_names(ps), self.last_names(ps), strict=True)]

    def company_domain(self, k: np.ndarray) -> list[str]:
        names = self.pools.company_slug[self.company_name[k]].tolist()
        return [f"{n[:16] or 'co'}{i}.example.com" for n, i in zip(names, k.tolist(), strict=True)]

    def client_domain(self, k: np.ndarray) -> list[str]:
        return [f"client{i}.example.com" for i in k.tolist()]

    def emails(self, ps: np.ndarray) -> list[str]:
        """Canonical (lower-case) e-mail of each person; the number makes every address unique."""
        s = self.sizes
        first = self.pools.first_slug[self.person_first[ps]].tolist()
        last = self.pools.last_slug[self.person_last[ps]].tolist()
        style = self.person_style[ps].tolist()
        domains = np.empty(len(ps), dtype=object)
        is_contact = ps < s.contacts
        is_user = (ps >= s.contacts) & (ps < s.contacts + s.users)
        webmail = self.person_webmail[ps] | ~(is_contact | is_user)
        domains[:] = [f"mail{p % 250}.example.com" for p in ps.tolist()]
        work = is_contact & ~webmail
        if work.any():
            domains[work] = self.company_domain(self.contact_company[ps[work]])
        if is_user.any():
            domains[is_user] = self.client_domain(self.user_client[ps[is_user] - s.contacts])
        out = []
        for f, la, st, p, d in zip(first, last, style, ps.tolist(), domains.tolist(), strict=True):
            local = (f"{f}.{la}", f"{f[:1]}.{la}", f"{f}{la}", f"{f}_{la}")[st]
            out.append(f"{local}{p}@{d}")
        return out

    def phones(self, ps: np.ndarray, fmt: np.ndarray, line: int = 0) -> list[str]:
        """Each person's number (``line`` 1 is a second, mobile number), in varied formats."""
        out = []
        locs = self.person_locale[ps].tolist()
        areas = self.person_area[ps].tolist()
        for p, loc, area, f in zip(ps.tolist(), locs, areas, fmt.tolist(), strict=True):
            cc, codes, digits = self.pools.phone_plan(loc)
            code = codes[area % len(codes)]
            span = 8 * 10 ** (digits - 1)
            sub = ((p + line * 4_000_000) * 7_654_321 + 1_234_567) % span + 2 * 10 ** (digits - 1)
            if sub // 10 ** (digits - 3) == 555:
                sub += 10 ** (digits - 3)
            out.append(_format_phone(cc, code, str(sub), f))
        return out


def _format_phone(cc: str, code: str, sub: str, fmt: int) -> str:
    if cc == "1":
        ex, line = sub[:3], sub[3:]
        forms = (
            f"+1 ({code}) {ex}-{line}",
            f"{code}-{ex}-{line}",
            f"({code}) {ex}-{line}",
            f"{code}.{ex}.{line}",
            f"+1{code}{ex}{line}",
            f"+1 {code} {ex} {line}",
        )
    else:
        head, tail = sub[:3], sub[3:]
        forms = (
            f"+{cc} {code} {head} {tail}",
            f"+{cc}{code}{sub}",
            f"00{cc} {code} {sub}",
            f"+{cc}-{code}-{sub}",
            f"+{cc} ({code}) {sub}",
            f"+{cc} {code} {sub}",
        )
    return forms[fmt % len(forms)]


def email_variants(emails: list[str], variant: np.ndarray) -> list[str]:
    """Stored spellings of canonical addresses: mostly as is, some capitalised or padded."""
    out = []
    for e, v in zip(emails, variant.tolist(), strict=True):
        if v == 1:
            local, _, domain = e.partition("@")
            e = ".".join(w.capitalize() for w in local.split(".")) + "@" + domain.capitalize()
        elif v == 2:
            e += " "
        elif v == 3:
            e = e.upper()
        out.append(e)
    return out


def variant_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(4, n, p=[0.92, 0.05, 0.02, 0.01])
