"""A small, fixed cast of named people planted into a demo CRM, with exact expectations.

Ids are fixed (``region base + 900,000,000 + n``), so every expectation is a constant and holds on
a seeded database as on an empty one. ``plant`` returns, per person, the primary keys of the rows
that are that person's own (their records and the rows that depend on them); ``PLANTED_MENTIONS``
lists the free texts that mention someone without being their record.

Synthetic data never uses the cast's surnames, their e-mail domains (example.org, example.net,
*.test) or a subscriber number starting with 555, so the only matches for the cast are below.
A person's own free text names them by first name only, so "own row" and "mention" never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.engine import Engine

from dsr.democrm.planted_rows import Ids, Row, minor_birth_date, rows_for
from dsr.democrm.regions import region_id_base
from dsr.democrm.schema import contacts, create_schema, metadata, sync_sequences

DEMO_EMAIL = "maria.jensen@example.org"
PLANTED_OFFSET = 900_000_000


@dataclass(frozen=True)
class PlantedPerson:
    key: str
    name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]  # E.164, as ``connectors.identities.normalise_phone`` returns
    regions: tuple[str, ...]
    clients: dict[str, tuple[str, ...]]  # region -> the Clients (tenants) they appear in
    description: str = ""


@dataclass(frozen=True)
class PlantedMention:
    """A free-text column that mentions ``person`` in a row that is not theirs."""

    region: str
    table: str
    pk: int
    column: str
    client: str  # the tenant the row belongs to
    person: str
    kinds: tuple[str, ...]  # identity kinds the text uses, sorted, as ``Mention.kinds``
    # Other planted people a name matcher cannot tell apart from ``person`` in this text.
    namesakes: tuple[str, ...] = field(default=())


PEOPLE: dict[str, PlantedPerson] = {
    "maria": PlantedPerson(
        "maria",
        "Maria Jensen",
        (DEMO_EMAIL,),
        ("+14155550142",),
        ("us", "eu"),
        {"us": ("Northwind Traders", "Contoso Analytics"), "eu": ("Fabrikam GmbH",)},
        "The demo person. us: a contact of Northwind Traders (e-mail stored as "
        "'Maria.Jensen@Example.org '), and a User and billing contact of Contoso Analytics; "
        "eu: a contact of Fabrikam GmbH.",
    ),
    "maria_namesake": PlantedPerson(
        "maria_namesake",
        "Maria Jensen",
        ("m.jensen@fabrikam.test",),
        ("+494055501234",),
        ("eu",),
        {"eu": ("Fabrikam GmbH",)},
        "Another Maria Jensen, in the same eu tenant as the demo person: never hers.",
    ),
    "tom": PlantedPerson(
        "tom",
        "Tom Becker",
        ("tom.becker@example.net",),
        ("+14155550177",),
        ("us",),
        {"us": ("Northwind Traders",)},
        "A Northwind contact at Maria's company (same company row), attendee of her meeting.",
    ),
    "minor": PlantedPerson(
        "minor",
        "Lena Vogt",
        ("lena.vogt@fabrikam.test",),
        (),
        ("eu",),
        {"eu": ("Fabrikam GmbH",)},
        "A User aged 16 without parental consent.",
    ),
    "priya": PlantedPerson(
        "priya",
        "Priya Raman",
        ("priya.raman@northwind.test",),
        ("+14155550101",),
        ("us",),
        {"us": ("Northwind Traders",)},
        "Northwind's administrator: owns the contacts, organises the meeting, files a ticket.",
    ),
    "jonas": PlantedPerson(
        "jonas",
        "Jonas Weber",
        ("jonas.weber@example.net",),
        ("+31205550199",),
        ("eu",),
        {"eu": ("Fabrikam GmbH",)},
        "A Fabrikam contact whose e-mail mentions Maria's address.",
    ),
}

# Planted Clients: name -> (region, n); the id is planted_id(region, n).
PLANTED_CLIENTS: dict[str, tuple[str, int]] = {
    "Northwind Traders": ("us", 1),
    "Contoso Analytics": ("us", 2),
    "Fabrikam GmbH": ("eu", 1),
}


def planted_id(region: str, n: int) -> int:
    return region_id_base(region) + PLANTED_OFFSET + n


def client_id(name: str) -> int:
    """The id of a planted Client (the tenant a client_data request names)."""
    region, n = PLANTED_CLIENTS[name]
    return planted_id(region, n)


def _mention(region: str, table: str, n: int, **kw: object) -> PlantedMention:
    return PlantedMention(region=region, table=table, pk=planted_id(region, n), **kw)  # type: ignore[arg-type]


PLANTED_MENTIONS: tuple[PlantedMention, ...] = (
    # "Spoke with Maria Jensen (415-555-0142) about the renewal" on Tom's record.
    _mention(
        "us",
        "notes",
        2,
        column="body",
        client="Northwind Traders",
        person="maria",
        kinds=("name", "phone"),
        namesakes=("maria_namesake",),
    ),
    # "Introduced by Tom Becker." on Maria's record.
    _mention(
        "us", "notes", 1, column="body", client="Northwind Traders", person="tom", kinds=("name",)
    ),
    # Priya asks support to merge the duplicates of Maria.Jensen@Example.org.
    _mention(
        "us",
        "support_tickets",
        2,
        column="body",
        client="Northwind Traders",
        person="maria",
        kinds=("email",),
    ),
    # Jonas: "please also loop in maria.jensen@example.org".
    _mention(
        "eu", "emails", 1, column="body", client="Fabrikam GmbH", person="maria", kinds=("email",)
    ),
)


def mentions_for(
    person: str,
    region: str | None = None,
    clients: tuple[str, ...] | None = None,
    *,
    namesakes: bool = False,
) -> dict[str, list[int]]:
    """table -> primary keys of the texts mentioning ``person`` (optionally in some tenants).

    ``namesakes=True`` adds the texts that mention someone else by a name ``person`` shares:
    what a name matcher reports for them, though they are not meant.
    """
    out: dict[str, list[int]] = {}
    for m in PLANTED_MENTIONS:
        meant = m.person == person or (namesakes and person in m.namesakes)
        if not meant or (region and m.region != region):
            continue
        if clients is not None and m.client not in clients:
            continue
        out.setdefault(m.table, []).append(m.pk)
    return {table: sorted(pks) for table, pks in sorted(out.items())}


def expected_rows(region: str, *, today: date | None = None) -> dict[str, dict[str, list[int]]]:
    """person -> table -> primary keys of that person's own rows, without touching a database."""
    out: dict[str, dict[str, list[int]]] = {}
    for row in rows_for(region, _ids(region), today or date.today()):
        if row.owner:
            out.setdefault(row.owner, {}).setdefault(row.table, []).append(row.values["id"])
    return {
        person: {table: sorted(pks) for table, pks in sorted(tables.items())}
        for person, tables in sorted(out.items())
    }


def plant(engine: Engine, region: str) -> dict[str, dict[str, list[int]]]:
    """Insert the cast for ``region`` (none outside us/eu); returns ``expected_rows(region)``."""
    today = date.today()
    rows = rows_for(region, _ids(region), today)
    create_schema(engine)
    with engine.begin() as conn:
        probe = select(contacts.c.id).where(contacts.c.id == planted_id(region, 1))
        if rows and conn.execute(probe).first() is not None:
            raise ValueError(f"region {region!r}: the planted cast is already in this database")
        for table in metadata.sorted_tables:
            batch = [r.values for r in rows if r.table == table.name]
            if batch:
                conn.execute(table.insert(), batch)
        sync_sequences(conn)
    return expected_rows(region, today=today)


def _ids(region: str) -> Ids:
    return lambda n: planted_id(region, n)


__all__ = [
    "DEMO_EMAIL",
    "PEOPLE",
    "PLANTED_CLIENTS",
    "PLANTED_MENTIONS",
    "PlantedMention",
    "PlantedPerson",
    "Row",
    "client_id",
    "expected_rows",
    "mentions_for",
    "minor_birth_date",
    "plant",
    "planted_id",
]
