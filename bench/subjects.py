"""Who the benchmark asks about: the planted demo person and synthetic people from the data.

Picks are deterministic in (seed, size, region), so every phase and every run of one size measures
the same people. A ``user_account`` request is a User's (iNextCRM is controller), so its synthetic
subjects are Users; a ``client_data`` request names one Client, so its subjects are that Client's
contacts. A contact's address would find nothing in the ``inextcrm`` tables.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from sqlalchemy import text

from connectors.identities import InvalidIdentity, parse_identity
from dsr.democrm.planted import DEMO_EMAIL, client_id
from dsr.democrm.regions import region_id_base
from dsr.democrm.world import Sizes
from resources.engines import engine_for


@dataclass(frozen=True)
class Subject:
    key: str  # a label without personal data: "maria", "user-us-17", "contact-eu-4"
    email: str
    client_id: str | None  # the tenant of a client_data request; None for user_account


@dataclass(frozen=True)
class Batch:
    scope: str
    client_id: str | None
    subjects: list[Subject]


@dataclass(frozen=True)
class Cast:
    singles: dict[str, list[Subject]]  # scope -> subjects, the demo person first
    batches: list[Batch]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> Cast:
        singles = {s: [Subject(**x) for x in xs] for s, xs in raw["singles"].items()}
        batches = [
            Batch(b["scope"], b["client_id"], [Subject(**x) for x in b["subjects"]])
            for b in raw["batches"]
        ]
        return cls(singles, batches)


def _usable(email: str | None) -> bool:
    if not email:
        return False
    try:
        parse_identity("email", email)
    except InvalidIdentity:
        return False
    return True


def _sample(
    url: str, region: str, table: str, count: int, want: int, rng: random.Random
) -> list[tuple]:
    """``want`` rows (id, email, client_id) of seeded ``table`` with a usable e-mail, in draw order.

    Seeded ids are ``region base + 1 .. + count``, so drawing ids needs no scan of the table.
    """
    base = region_id_base(region)
    order = rng.sample(range(1, count + 1), min(count, max(want * 2, want + 20)))
    ids = [base + i for i in order]
    rows: dict[int, tuple] = {}
    with engine_for(url).connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join(str(int(i)) for i in chunk)
            query = f"SELECT id, email, client_id FROM {table} WHERE id IN ({marks})"
            for row in conn.execute(text(query)):
                rows[int(row[0])] = tuple(row)
    picked = [rows[i] for i in ids if i in rows and _usable(rows[i][1])]
    return picked[:want]


def _largest_tenant(url: str, want: int, rng: random.Random) -> tuple[str, list[tuple]]:
    with engine_for(url).connect() as conn:
        tenant = conn.execute(
            text("SELECT client_id FROM contacts GROUP BY client_id ORDER BY count(*) DESC LIMIT 1")
        ).scalar_one()
        rows = conn.execute(
            text("SELECT id, email, client_id FROM contacts WHERE client_id = :c ORDER BY id"),
            {"c": tenant},
        ).all()
    order = rng.sample(range(len(rows)), len(rows))
    # Validating every address of a 60k-contact tenant costs seconds; stop once enough are in.
    chosen: list[tuple] = []
    for i in order:
        if len(chosen) == want:
            break
        if _usable(rows[i][1]):
            chosen.append(tuple(rows[i]))
    return str(tenant), chosen


def pick(urls: dict[str, str], size: int, seed_value: int, singles: int, batch: int) -> Cast:
    sizes = Sizes.for_contacts(size)
    single: dict[str, list[Subject]] = {
        "user_account": [Subject("maria", DEMO_EMAIL, None)],
        "client_data": [Subject("maria", DEMO_EMAIL, str(client_id("Northwind Traders")))],
    }
    users: list[Subject] = []
    regions = sorted(urls)
    for n, region in enumerate(regions):
        rng = random.Random(f"{seed_value}/{size}/{region}")
        share = singles // len(regions) + (n < singles % len(regions))
        for i, (_, email, cid) in enumerate(
            _sample(urls[region], region, "contacts", size, share, rng)
        ):
            single["client_data"].append(Subject(f"contact-{region}-{i}", email, str(cid)))
        bshare = batch // len(regions) + (n < batch % len(regions))
        picked = _sample(urls[region], region, "users", sizes.users, max(share, bshare), rng)
        for i, (_, email, _) in enumerate(picked):
            users.append(Subject(f"user-{region}-{i}", email, None))
            if i < share:
                single["user_account"].append(users[-1])
    rng = random.Random(f"{seed_value}/{size}/batch")
    tenant, chosen = _largest_tenant(urls["us"], batch, rng)
    contacts = [Subject(f"tenant-us-{i}", r[1], tenant) for i, r in enumerate(chosen)]
    batches = [Batch("user_account", None, users), Batch("client_data", tenant, contacts)]
    return Cast(single, batches)
