"""The demo CRM: deterministic seeding, its data map, and the planted cast's exact expectations."""

from __future__ import annotations

import re
import sqlite3
import warnings
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from connectors.crm.datamap import load_datamap
from connectors.crm.datamap_checks import validate_against
from connectors.crm.sql import CrmSqlConnector, resolve_across
from connectors.identities import harvest_identity, parse_identity
from dsr.democrm.planted import (
    DEMO_EMAIL,
    PEOPLE,
    PLANTED_MENTIONS,
    client_id,
    expected_rows,
    mentions_for,
    plant,
)
from dsr.democrm.pools import RESERVED_SURNAMES, ascii_slug
from dsr.democrm.schema import (
    IDENTITY_COLUMNS,
    create_indexes,
    create_schema,
    metadata,
)
from dsr.democrm.seed import seed
from dsr.settings import DEMO_DATAMAP

SMALL = 400


def _engine(path: Path) -> Engine:
    return create_engine(f"sqlite:///{path}")


def _seeded(tmp_path: Path, region: str, contacts: int = SMALL, seed_value: int = 42) -> Engine:
    engine = _engine(tmp_path / f"{region}-{contacts}-{seed_value}.sqlite")
    seed(engine, region=region, contacts=contacts, seed=seed_value)
    return engine


def _dump(engine: Engine) -> list[str]:
    """Every row of every table as SQL text, in a stable order."""
    path = engine.url.database
    engine.dispose()
    with sqlite3.connect(str(path)) as conn:
        lines = conn.iterdump()
        return [x for x in lines if x.startswith("INSERT") and "sqlite_stat" not in x]


# -- seeding ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_rows_and_another_seed_does_not(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _dump(_seeded(tmp_path / "a", "us"))
    second = _dump(_seeded(tmp_path / "b", "us"))
    other = _dump(_seeded(tmp_path, "us", seed_value=43))
    assert first == second
    assert first != other
    eu = _dump(_seeded(tmp_path, "eu"))
    assert not set(first) & set(eu), "regions must not share a single row"


def test_counts_are_proportional_and_match_the_database(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "crm.sqlite")
    seen: dict[str, tuple[int, int]] = {}
    counts = seed(
        engine,
        region="eu",
        contacts=2000,
        progress=lambda t, done, total: seen.__setitem__(t, (done, total)),
    )
    n = 2000
    assert counts["contacts"] == n
    assert counts["activities"] == 2 * n
    assert counts["notes"] == counts["emails"] == n
    assert counts["deals"] == 3 * n // 10
    assert counts["attachments"] == n // 20
    assert counts["meeting_attendees"] == 3 * counts["meetings"] == 3 * (n // 20)
    assert counts["users"] == n // 50
    assert counts["clients"] == 3
    assert counts["invoices"] == 12 * counts["clients"]
    assert counts["payment_methods"] == counts["clients"]
    assert counts["visitor_analytics"] > 2 * counts["users"]
    # Synthetic Clients connect no services: only planted ones have (working) integrations.
    assert set(seen) == {t.name for t in metadata.sorted_tables} - {"integrations"}
    assert all(done == total for done, total in seen.values())
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            assert conn.execute(select(func.count()).select_from(table)).scalar() == counts.get(
                table.name, 0
            ), table.name
        years = conn.execute(text("SELECT min(created_at), max(created_at) FROM contacts")).one()
        assert years[0] >= "2019" and years[1] < "2027"
        bodies = [r[0] for r in conn.execute(text("SELECT body FROM notes WHERE contact_id > 0"))]
    mention = re.compile(
        "loop in|finance team|Please copy|asked for the slides|directly at|Call back"
    )
    mentioning = [b for b in bodies if mention.search(b)]
    assert 0.05 < len(mentioning) / len(bodies) < 0.15  # ~10% name another person


def test_closed_accounts_and_minors_are_realistic(tmp_path: Path) -> None:
    engine = _seeded(tmp_path, "us", contacts=20_000)
    with engine.connect() as conn:
        closed, total = conn.execute(
            text("SELECT sum(status = 'closed'), count(*) FROM users")
        ).one()
        assert 0.07 < closed / total < 0.2
        assert conn.execute(
            text("SELECT count(*) FROM users WHERE status = 'closed' AND closed_at < '2026-09-01'")
        ).scalar()
        # Synthetic minors always have parental consent: only the planted minor lacks it.
        assert not conn.execute(
            text("SELECT count(*) FROM users WHERE date_of_birth > '2008-12-31' "
                 "AND (parental_consent IS NULL OR NOT parental_consent)")
        ).scalar()  # fmt: skip


def test_seed_refuses_bad_input_and_a_full_database(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "crm.sqlite")
    with pytest.raises(ValueError, match="unknown region"):
        seed(engine, region="mars", contacts=100)
    with pytest.raises(ValueError, match="at least"):
        seed(engine, region="us", contacts=3)
    seed(engine, region="us", contacts=10)
    with pytest.raises(ValueError, match="already holds CRM data"):
        seed(engine, region="us", contacts=10)


def test_schema_and_indexes_are_idempotent(tmp_path: Path) -> None:
    engine = _seeded(tmp_path, "us", contacts=50)
    create_schema(engine)
    create_indexes(engine)
    create_indexes(engine)
    with engine.connect() as conn:
        names = {
            r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='index'"))
        }
    assert "ix_contacts_email_norm" in names and "ix_contacts_phone_digits" in names


def test_synthetic_data_never_collides_with_the_cast(tmp_path: Path) -> None:
    engine = _seeded(tmp_path, "eu", contacts=3000)
    planted = {e for p in PEOPLE.values() for e in p.emails}
    with engine.connect() as conn:
        emails = [r[0] for r in conn.execute(text("SELECT email FROM contacts WHERE email != ''"))]
        phones = [r[0] for r in conn.execute(text("SELECT phone FROM contacts WHERE phone != ''"))]
        last = {r[0] for r in conn.execute(text("SELECT DISTINCT last_name FROM contacts"))}
    canonical = {harvest_identity("email", e) for e in emails}
    assert None not in canonical, "every synthetic e-mail must be usable as an identity"
    assert not {i.value for i in canonical if i} & planted
    assert all(e.strip().lower().endswith(".example.com") for e in emails)
    # "0049 ..." is how many Europeans write +49; the US default region cannot parse it, so it is
    # checked as the "+" form it stands for (discovery still matches it through phone_keys).
    numbers = {harvest_identity("phone", "+" + p[2:] if p.startswith("00") else p) for p in phones}
    assert None not in numbers
    assert not {n.value for n in numbers if n} & {ph for p in PEOPLE.values() for ph in p.phones}
    assert not {ascii_slug(n) for n in last} & RESERVED_SURNAMES


# -- the data map -----------------------------------------------------------------------------


def test_datamap_loads_and_validates_against_a_seeded_database(tmp_path: Path) -> None:
    dm = load_datamap(DEMO_DATAMAP)
    for region in ("us", "eu"):
        validate_against(dm, _seeded(tmp_path, region, contacts=50), database=region)
    assert set(dm.tables) == {t.name for t in metadata.sorted_tables}
    for name, table in dm.tables.items():
        assert table.erasure is not None, name
        assert all(col.erase for col in table.personal_data.values()), name
        if table.controller == "client":
            assert table.tenant_column == "client_id", name


def test_every_matched_identity_column_has_its_expression_index() -> None:
    dm = load_datamap(DEMO_DATAMAP)
    matched = {
        (name, ident.column, ident.kind)
        for name, table in dm.tables.items()
        for ident in table.identities
        if ident.matches
    }
    assert matched == {(t.name, col, kind) for t, col, kind in IDENTITY_COLUMNS}


def test_user_work_is_not_a_reference_into_client_data() -> None:
    """A User's request must not sweep in the Client's customer history they worked on."""
    dm = load_datamap(DEMO_DATAMAP)
    for name, table in dm.tables.items():
        for ref in table.references:
            assert ref.target_table != "users", f"{name}.{ref.column} points at users"
    assert dm.tables["invoices"].erasure.action == "keep"  # type: ignore[union-attr]
    assert dm.tables["users"].erasure.action == "anonymise"  # type: ignore[union-attr]


# -- the planted cast -------------------------------------------------------------------------


def test_plant_returns_the_rows_it_inserted(tmp_path: Path) -> None:
    for region in ("us", "eu"):
        engine = _seeded(tmp_path, region, contacts=50)
        got = plant(engine, region)
        assert got == expected_rows(region)
        with engine.connect() as conn:
            for tables in got.values():
                for table, pks in tables.items():
                    t = metadata.tables[table]
                    found = conn.execute(select(t.c.id).where(t.c.id.in_(pks))).scalars().all()
                    assert sorted(found) == pks
        with pytest.raises(ValueError, match="already"):
            plant(engine, region)


def test_plant_works_on_an_empty_database_and_outside_the_cast_regions(tmp_path: Path) -> None:
    assert plant(_engine(tmp_path / "empty.sqlite"), "eu") == expected_rows("eu")
    assert plant(_engine(tmp_path / "ca.sqlite"), "ca") == {}


def test_cast_is_consistent() -> None:
    maria, namesake = PEOPLE["maria"], PEOPLE["maria_namesake"]
    assert maria.emails == (DEMO_EMAIL,)
    assert namesake.name == maria.name and not set(namesake.emails) & set(maria.emails)
    assert namesake.regions == ("eu",) and set(namesake.phones).isdisjoint(maria.phones)
    assert set(expected_rows("eu")) >= {"maria", "maria_namesake", "minor"}
    assert "maria_namesake" not in expected_rows("us")
    for person in PEOPLE.values():
        for email in person.emails:
            assert parse_identity("email", email).value == email
            assert not email.endswith(".example.com")
        for phone in person.phones:
            assert parse_identity("phone", phone).value == phone
    us = expected_rows("us")
    assert us["maria"]["visitor_analytics"] and us["maria"]["invoices"]
    assert us["tom"]["contacts"] != us["maria"]["contacts"]


def test_planted_mentions_name_text_that_is_not_the_persons_own(tmp_path: Path) -> None:
    for region in ("us", "eu"):
        engine = _seeded(tmp_path, region, contacts=50)
        own = plant(engine, region)
        with engine.connect() as conn:
            for m in (m for m in PLANTED_MENTIONS if m.region == region):
                assert m.pk not in own.get(m.person, {}).get(m.table, [])
                t = metadata.tables[m.table]
                body = conn.execute(select(t.c[m.column]).where(t.c.id == m.pk)).scalar_one()
                person = PEOPLE[m.person]
                if "email" in m.kinds:
                    assert person.emails[0] in body.lower()
                if "name" in m.kinds:
                    assert person.name in body
    assert mentions_for("maria", "us") == {
        "notes": [m.pk for m in PLANTED_MENTIONS if m.table == "notes" and m.person == "maria"],
        "support_tickets": [
            m.pk for m in PLANTED_MENTIONS if m.table == "support_tickets" and m.person == "maria"
        ],
    }


def test_minor_is_sixteen_without_parental_consent(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "eu.sqlite")
    pk = plant(engine, "eu")["minor"]["users"][0]
    with engine.connect() as conn:
        born, consent = conn.execute(
            text("SELECT date_of_birth, parental_consent FROM users WHERE id = :id"), {"id": pk}
        ).one()
    today = date.today()
    born = date.fromisoformat(born)
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    assert age == 16 and not consent


def test_discovery_finds_exactly_the_planted_rows_and_mentions(tmp_path: Path) -> None:
    """Recall and precision of the expectations, through the real connector."""
    dm = load_datamap(DEMO_DATAMAP)
    connectors = {}
    for region in ("us", "eu"):
        engine = _seeded(tmp_path, region, contacts=300)
        plant(engine, region)
        connectors[region] = CrmSqlConnector(region, engine, dm)
    subject = {"maria": {parse_identity("email", "Maria.Jensen@example.org")}}
    cases = [
        ("user_account", None, "us"),
        ("client_data", "Northwind Traders", "us"),
        ("client_data", "Fabrikam GmbH", "eu"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy cannot reflect expression indexes
        for scope, client, region in cases:
            cid = str(client_id(client)) if client else None
            ids = resolve_across(connectors.values(), subject, scope=scope, client_id=cid)
            found = connectors[region].find(ids, scope=scope, client_id=cid)["maria"]
            in_scope = set(connectors[region].tables_in_scope(scope)[0])
            rows: dict[str, list[int]] = {}
            for row in found.rows:
                rows.setdefault(row.ref.table, []).append(int(row.ref.pk))
            expected = {
                t: pks for t, pks in expected_rows(region)["maria"].items() if t in in_scope
            }
            assert {t: sorted(p) for t, p in rows.items()} == expected, (scope, client)
            mentions: dict[str, list[int]] = {}
            for m in found.mentions:
                mentions.setdefault(m.ref.table, []).append(int(m.ref.pk))
            wanted = {
                t: pks
                for t, pks in mentions_for("maria", region, (client,) if client else None).items()
                if t in in_scope
            }
            assert mentions == wanted, (scope, client)


def test_the_namesake_is_never_taken_for_maria(tmp_path: Path) -> None:
    dm = load_datamap(DEMO_DATAMAP)
    connectors = []
    for region in ("us", "eu"):
        engine = _seeded(tmp_path, region, contacts=300)
        plant(engine, region)
        connectors.append(CrmSqlConnector(region, engine, dm))
    subject = {"namesake": {parse_identity("email", "M.Jensen@fabrikam.test")}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids = resolve_across(connectors, subject, scope="all")
        assert parse_identity("email", DEMO_EMAIL) not in ids["namesake"]
        for connector in connectors:
            found = connector.find(ids, scope="all")["namesake"]
            rows: dict[str, list[int]] = {}
            for row in found.rows:
                rows.setdefault(row.ref.table, []).append(int(row.ref.pk))
            region = connector.region
            assert rows == expected_rows(region).get("maria_namesake", {})
            mentions: dict[str, list[int]] = {}
            for m in found.mentions:
                mentions.setdefault(m.ref.table, []).append(int(m.ref.pk))
                assert m.kinds == ("name",)  # only her name, never Maria's e-mail or phone
            assert mentions == mentions_for("maria_namesake", region, namesakes=True)


# -- PostgreSQL -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_seed_and_plant_on_postgresql_match_sqlite(pg_url: str, tmp_path: Path) -> None:
    pg = create_engine(pg_url)
    try:
        counts = seed(pg, region="eu", contacts=SMALL)
        lite = _seeded(tmp_path, "eu")
        validate_against(load_datamap(DEMO_DATAMAP), pg, database="eu")
        with pg.connect() as a, lite.connect() as b:
            for table in metadata.sorted_tables:
                query = select(table).order_by(table.c.id)
                assert a.execute(query).all() == b.execute(query).all(), table.name
        assert plant(pg, "eu") == expected_rows("eu")
        with pg.begin() as conn:  # the sequence follows the explicit ids
            new = conn.execute(
                text("INSERT INTO clients (name, region, plan, status, created_at) "
                     "VALUES ('x', 'eu', 'starter', 'active', now()) RETURNING id")
            ).scalar_one()  # fmt: skip
        assert new == client_id("Fabrikam GmbH") + 1
        assert counts["contacts"] == SMALL
    finally:
        pg.dispose()
