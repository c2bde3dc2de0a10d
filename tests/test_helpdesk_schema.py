"""A foreign schema mapped only through YAML: exact rows found, exactly those erased, on both
backends, and every bystander's row byte-identical afterwards (tests/helpdesk_schema.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.crm.datamap import load_datamap
from connectors.crm.sql import CrmSqlConnector, resolve_across
from connectors.identities import parse_identity
from dsr.erasure.crm import CrmEraser
from dsr.keys import KeyRing
from resources.engines import engine_for
from tests import pg_server as pg
from tests.helpdesk_schema import (
    SUBJECT_EMAIL,
    SUBJECT_MENTIONS,
    SUBJECT_PHONE_E164,
    SUBJECT_ROWS,
    build_helpdesk,
    invoices,
    notes,
    snapshot,
)

HELPDESK_MAP = Path(__file__).parent / "data" / "helpdesk.datamap.yaml"
REGIONS = ("de", "na")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def helpdesk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[CrmSqlConnector]]:
    """Both regions built and validated against the map: two SQLite files or two databases."""
    dm = load_datamap(HELPDESK_MAP)
    made: list[str] = []
    server: pg.PgServer | None = None
    if request.param == "postgresql":
        server = request.getfixturevalue("pg_server")
    connectors = []
    for region in REGIONS:
        if server is not None:
            made.append(server.create_database())
            url = server.url(made[-1])
        else:
            url = f"sqlite:///{tmp_path / f'{region}.sqlite'}"
        engine = engine_for(url)
        build_helpdesk(engine, region)
        connector = CrmSqlConnector(region, engine, dm)
        connector.validate()
        connectors.append(connector)
    yield connectors
    for c in connectors:
        c.engine.dispose()
    for name in made:
        assert server is not None
        server.drop_database(name)


def _subject(connectors: list[CrmSqlConnector]) -> dict[str, set]:
    given = {"s": {parse_identity("email", "  JÖRG.Müller@Example.de ")}}
    return resolve_across(connectors, given, scope="all")


def test_access_finds_exactly_her_rows_in_both_regions(helpdesk: list[CrmSqlConnector]) -> None:
    identities = _subject(helpdesk)
    values = {i.value for i in identities["s"]}
    # Her phone was learned from the German row and read as a German number.
    assert SUBJECT_PHONE_E164 in values and "+12122987664" not in values
    assert "jörg.müller+news@example.de" not in values
    assert "xjörg.müller@example.de" not in values
    for connector in helpdesk:
        found = connector.find(identities, scope="all")["s"]
        rows: dict[str, list[str]] = {}
        for row in found.rows:
            rows.setdefault(row.ref.table, []).append(row.ref.pk)
        assert {t: sorted(pks) for t, pks in rows.items()} == SUBJECT_ROWS[connector.region]
        mentions = sorted((m.ref.table, m.ref.pk) for m in found.mentions)
        assert mentions == SUBJECT_MENTIONS[connector.region]


def test_every_composite_key_row_is_exported_whole(helpdesk: list[CrmSqlConnector]) -> None:
    de = helpdesk[0]
    found = de.find(_subject(helpdesk), scope="all")["s"]
    items = sorted(
        (r.data["order_id"], r.data["item_no"], r.data["product"])
        for r in found.rows
        if r.ref.table == "order_items"
    )
    # Three items of one order: one row each, none folded into another by its order_id.
    assert items == [(100, 1, "Kaffeemühle"), (100, 2, "Filter"), (100, 3, "Bohnen")]


def _eraser(connector: CrmSqlConnector, keys: KeyRing) -> CrmEraser:
    return CrmEraser(connector, hasher=keys.keyed_hash, physical="none")


def _subject_keys(region: str) -> dict[str, set[tuple]]:
    """Primary keys (as the snapshot spells them) of her rows, per table."""
    import json

    out: dict[str, set[tuple]] = {}
    for table, pks in SUBJECT_ROWS[region].items():
        for pk in pks:
            parts = json.loads(pk) if pk.startswith("[") else [pk]
            typed = tuple(int(p) if p.isdigit() else p for p in parts)
            out.setdefault(table, set()).add(typed)
    return out


def test_erasure_changes_her_rows_only_and_the_dry_run_said_so(
    helpdesk: list[CrmSqlConnector], keys: KeyRing
) -> None:
    identities = _subject(helpdesk)
    before = {c.region: snapshot(c.engine) for c in helpdesk}
    for connector in helpdesk:
        eraser = _eraser(connector, keys)
        found = connector.find(identities, scope="all")
        plan = eraser.plan(found["s"])
        planned = plan.changes()
        applied = eraser.apply([plan], identities)["s"]
        # The real run changed exactly what the dry run planned, table by table.
        assert applied == planned
        assert eraser.verify(identities["s"], scope="all", client_id=None).ok
    for connector in helpdesk:
        after = snapshot(connector.engine)
        hers = _subject_keys(connector.region)
        mentioned = {("notes", int(pk)) for _, pk in SUBJECT_MENTIONS[connector.region]}
        for table, rows in before[connector.region].items():
            for key, values in rows.items():
                if key in hers.get(table, set()) or (table, key[0]) in mentioned:
                    continue
                if table == "invoices":
                    continue  # checked below: kept rows, emptied
                assert after[table].get(key) == values, f"bystander {table} {key} changed"
        # Her deleted rows are gone; the kept invoice stays without her address or pointer.
        for table, keys_ in hers.items():
            if table != "invoices":
                assert not keys_ & set(after[table]), table
    de, na = helpdesk
    with de.engine.connect() as conn:
        kept = conn.execute(select(invoices).order_by(invoices.c.invoice_no)).mappings().all()
        note = conn.execute(select(notes.c.body).where(notes.c.note_id == 1)).scalar_one()
    assert [(r["invoice_no"], r["cust_id"]) for r in kept] == [("INV-1", None), ("INV-2", 11)]
    assert kept[0]["billed_to"] == keys.keyed_hash("billed_to", SUBJECT_EMAIL)
    assert kept[1]["billed_to"] == "jörg.müller+news@example.de"
    assert note == "Rückruf an [redacted] unter [redacted] erbeten."
    with na.engine.connect() as conn:
        pat = conn.execute(select(invoices).where(invoices.c.invoice_no == "INV-8")).mappings()
        assert pat.one()["cust_id"] == 21
    # A second erasure finds only the kept invoices, emptied: nothing left to change.
    again = _subject(helpdesk)
    for connector in helpdesk:
        eraser = _eraser(connector, keys)
        plan = eraser.plan(connector.find(again, scope="all")["s"])
        assert all(n == 0 for by in plan.changes().values() for n in by.values())


def test_a_us_number_with_her_national_digits_is_never_hers(
    helpdesk: list[CrmSqlConnector],
) -> None:
    given = {"s": {parse_identity("phone", "+49 212 2987664")}}
    found = helpdesk[1].find(given, scope="all")["s"]
    assert sorted(r.ref.pk for r in found.rows if r.ref.table == "customers") == ["20"]
    assert not [m for m in found.mentions if m.ref.pk == "4"]  # "(212) 298-7664" in a US note
    pat = {"s": {parse_identity("phone", "(212) 298-7664", "US")}}
    for connector in helpdesk:
        rows = connector.find(pat, scope="all")["s"].rows
        expected = ["21"] if connector.region == "na" else []
        assert sorted(r.ref.pk for r in rows if r.ref.table == "customers") == expected


def test_a_kept_invoice_is_kept_until_its_own_date_plus_ten_years(
    helpdesk: list[CrmSqlConnector], keys: KeyRing
) -> None:
    eraser = _eraser(helpdesk[0], keys)
    plan = eraser.plan(helpdesk[0].find(_subject(helpdesk), scope="all")["s"])
    (kept,) = [tp for tp in plan.tables if tp.action == "keep"]
    assert kept.until == date(2036, 3, 2).isoformat()
