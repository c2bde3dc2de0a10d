"""Precision, for every small CRM: erasing one person changes nothing that belongs to anyone else.

Generated web-shop databases (the second schema, mapped by ``tests/data/shop.datamap.yaml``) with
overlapping people: two shops shared by everyone, namesakes, a person with two e-mails or two
customer records, phone numbers written four ways, reviews mentioning several people at once.
Before and after erasing one subject (or a batch of two) every row of every table is compared.
Then the column actions that keep a row usable: a keyed hash that still joins, and retention.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.engine import Engine

from connectors.base import Findings
from connectors.crm.datamap import DataMapError, load_datamap
from connectors.crm.sql import CrmSqlConnector
from connectors.identities import parse_identity
from dsr.erasure.crm import CrmEraser
from dsr.erasure.plan import retention_end
from tests.shop_schema import build_shop, customer, metadata, newsletter
from tests.test_erasure import hasher, redacted

SHOP_PATH = Path(__file__).parent / "data" / "shop.datamap.yaml"
SHOP_MAP = load_datamap(SHOP_PATH)
NAMES = ("Eva Smit", "Bob Visser", "Anna de Vries")  # fewer names than people: namesakes
FILLER = ("great shoes", "bought these", "Eva from accounting", "liked them", "call", "mail")
SEPARATORS = (", ", "; ", " and ")  # never only a space: two numbers would read as one
Snapshot = dict[tuple[str, str], dict[str, Any]]


@dataclass
class World:
    names: list[str]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    owner: dict[tuple[str, str], int] = field(default_factory=dict)  # whose row, by construction

    def add(self, table: str, person: int | None, row: dict[str, Any], pk: str) -> None:
        self.rows.setdefault(table, []).append(row)
        if person is not None:
            self.owner[(table, str(row[pk]))] = person


def emails(i: int, two: bool) -> list[str]:
    return [f"p{i}@shop-mail.test", *([f"p{i}.alt@other-mail.test"] if two else [])]


def phone(i: int, style: int) -> str:
    return (
        f"+31 6 1234 56{i:02d}",
        f"06-123456{i:02d}",
        f"+316123456{i:02d}",
        f"0031 6 1234 56{i:02d}",
    )[style]


@st.composite
def worlds(draw: st.DrawFn) -> tuple[World, list[list[str]]]:
    n = draw(st.integers(2, 5))
    names = [draw(st.sampled_from(NAMES)) for _ in range(n)]
    mail = [emails(i, draw(st.booleans())) for i in range(n)]
    world = World(names)
    world.add("shops", None, {"shop_id": 1, "name": "Shoes"}, "shop_id")
    world.add("shops", None, {"shop_id": 2, "name": "Hats"}, "shop_id")
    customers: list[tuple[str, int, int]] = []
    for i in range(n):
        for _ in range(draw(st.integers(1, 2))):
            no, shop = f"C-{len(customers) + 1}", draw(st.sampled_from([1, 2]))
            given_, family = names[i].split(" ", 1)
            address = draw(st.sampled_from([None, *mail[i]]))
            if address and draw(st.booleans()):
                address = f" {address.title()} "  # stored as typed, matched normalised
            profile_id = None
            if draw(st.booleans()):
                profile_id = 10 + len(customers)
                world.add("profile", i, {"profile_id": profile_id, "shop_id": shop}, "profile_id")
            world.add(
                "customer",
                i,
                {
                    "cust_no": no,
                    "shop_id": shop,
                    "mail": address,
                    "mobile": draw(st.sampled_from([None, *(phone(i, s) for s in range(4))])),
                    "given": given_,
                    "family": family,
                    "profile_id": profile_id,
                },
                "cust_no",
            )
            customers.append((no, shop, i))
    for no, shop, i in customers:
        for _ in range(draw(st.integers(0, 2))):
            order_id = 100 + len(world.rows.get("orders", []))
            order = {"order_id": order_id, "shop_id": shop, "cust_no": no, "ship_to": "Kade 1"}
            order |= {"total": Decimal("9.50"), "placed": dt.date(2025, 3, 1)}
            world.add("orders", i, order, "order_id")
            for _ in range(draw(st.integers(0, 2))):
                line_id = 1 + len(world.rows.get("order_line", []))
                line = {"line_id": line_id, "order_id": order_id, "sku": "SKU", "qty": 1}
                world.add("order_line", i, line, "line_id")
    fragment = st.one_of(
        st.sampled_from(FILLER),
        st.builds(
            lambda j, up: names[j].upper() if up else names[j], st.integers(0, n - 1), st.booleans()
        ),
        st.builds(
            lambda j, k: mail[j][k % len(mail[j])].upper(), st.integers(0, n - 1), st.integers(0, 1)
        ),
        st.builds(phone, st.integers(0, n - 1), st.integers(0, 3)),
    )
    for r in range(draw(st.integers(0, 6))):
        no, shop, author = draw(st.sampled_from(customers))
        parts = draw(st.lists(fragment, min_size=1, max_size=5))
        body = draw(st.sampled_from(SEPARATORS)).join(parts)
        world.add(
            "review",
            author,
            {"review_id": r + 1, "shop_id": shop, "cust_no": no, "body": body},
            "review_id",
        )
    letters = draw(st.sets(st.sampled_from([(i, e) for i in range(n) for e in mail[i]])))
    for i, address in sorted(letters):
        world.add("newsletter", i, {"addr": address}, "addr")
    return world, mail


def build(world: World, directory: str) -> CrmSqlConnector:
    engine = create_engine(f"sqlite:///{directory}/shop.sqlite")
    metadata.create_all(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if world.rows.get(table.name):
                conn.execute(table.insert(), world.rows[table.name])
    return CrmSqlConnector("eu", engine, SHOP_MAP, default_phone_region="NL")


def snapshot(engine: Engine) -> Snapshot:
    live = MetaData()
    live.reflect(engine)
    out: Snapshot = {}
    with engine.connect() as conn:
        for name, tmap in SHOP_MAP.tables.items():
            for row in conn.execute(select(live.tables[name])).mappings():
                out[(name, str(row[tmap.primary_key]))] = dict(row)
    return out


def assert_only_theirs_changed(before: Snapshot, after: Snapshot, found: list[Findings]) -> None:
    own = {(r.ref.table, r.ref.pk) for f in found for r in f.rows}
    spans: dict[tuple[str, str, str], set[tuple[int, int]]] = {}
    for m in (m for f in found for m in f.mentions):
        spans.setdefault((m.ref.table, m.ref.pk, m.column), set()).update(m.spans)
    expected = {key: dict(row) for key, row in before.items() if key not in own}
    for (table, pk, column), where in spans.items():
        if (table, pk) in expected:  # else it is also another subject's own row
            row = expected[(table, pk)]
            row[column] = redacted(row[column], tuple(where))
    assert set(after) <= set(before)
    for key, row in expected.items():
        assert after.get(key) == row, key
    for table, pk in own:  # the subject's own rows: deleted, or kept and still there
        action = SHOP_MAP.tables[table].erasure.action  # type: ignore[union-attr]
        assert ((table, pk) in after) == (action != "delete"), (table, pk, action)


def assert_attributed_correctly(world: World, found: Findings, person: int) -> None:
    for row in found.rows:
        assert world.owner.get((row.ref.table, row.ref.pk)) == person, row.ref


SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(worlds(), st.data())
def test_erasing_one_person_changes_nothing_of_anyone_else(
    generated: tuple[World, list[list[str]]], data: st.DataObject
) -> None:
    world, mail = generated
    subject = data.draw(st.integers(0, len(mail) - 1), label="subject")
    address = data.draw(st.sampled_from(mail[subject]), label="address")
    identities = {parse_identity("email", address)}
    with tempfile.TemporaryDirectory() as directory:
        connector = build(world, directory)
        before = snapshot(connector.engine)
        found = connector.find({"s": identities}, scope="all")["s"]
        assert_attributed_correctly(world, found, subject)
        event(f"subject's own rows: {'some' if found.rows else 'none'}")
        event(f"mentions of the subject: {'some' if found.mentions else 'none'}")
        event(f"namesakes: {'yes' if world.names.count(world.names[subject]) > 1 else 'no'}")
        result = CrmEraser(connector, hasher=hasher).erase(
            found, identities, scope="all", client_id=None
        )
        after = snapshot(connector.engine)
        connector.engine.dispose()
    assert_only_theirs_changed(before, after, [found])
    assert result.verification.ok, result.verification.unexpected


@SETTINGS
@given(worlds(), st.data())
def test_a_batch_of_two_changes_nothing_of_anyone_else(
    generated: tuple[World, list[list[str]]], data: st.DataObject
) -> None:
    world, mail = generated
    pair = data.draw(st.lists(st.integers(0, len(mail) - 1), min_size=2, max_size=2, unique=True))
    subjects = {f"s{i}": {parse_identity("email", mail[i][0])} for i in pair}
    with tempfile.TemporaryDirectory() as directory:
        connector = build(world, directory)
        before = snapshot(connector.engine)
        found = connector.find(subjects, scope="all")
        for i in pair:
            assert_attributed_correctly(world, found[f"s{i}"], i)
        eraser = CrmEraser(connector, hasher=hasher)
        plans = eraser.plan_many(found)
        eraser.apply(list(plans.values()), {k: f.identities for k, f in found.items()})
        after = snapshot(connector.engine)
        connector.engine.dispose()
    assert_only_theirs_changed(before, after, list(found.values()))


# -- column actions --------------------------------------------------------------------------------


def test_a_hashed_address_still_joins_is_not_hashed_twice_and_counts_as_erased(
    tmp_path: Path,
) -> None:
    raw = yaml.safe_load(SHOP_PATH.read_text())
    for table in ("customer", "newsletter"):
        raw["tables"][table]["erasure"] = {"action": "anonymise"}
    raw["tables"]["customer"]["personal_data"]["mail"]["erase"] = "hash"
    raw["tables"]["newsletter"]["personal_data"]["addr"]["erase"] = "hash"
    path = tmp_path / "shop-hash.datamap.yaml"
    path.write_text(yaml.safe_dump(raw))
    engine = create_engine(f"sqlite:///{tmp_path / 'shop.sqlite'}")
    build_shop(engine)
    connector = CrmSqlConnector("eu", engine, load_datamap(path), default_phone_region="NL")
    eva = {parse_identity("email", "eva.smit@shop-mail.test")}
    found = connector.find({"eva": eva}, scope="all")["eva"]
    eraser = CrmEraser(connector, hasher=hasher)
    first = eraser.erase(found, eva, scope="all", client_id=None)

    def rows() -> tuple[dict, set]:
        with engine.connect() as conn:
            people = {r.cust_no: r for r in conn.execute(select(customer))}
            return people, {r.addr for r in conn.execute(select(newsletter))}

    people, letters = rows()
    # Stored as "Eva.Smit@Shop-Mail.test" and as "eva.smit@shop-mail.test": one hash, so the
    # customer still joins its newsletter row.
    digest = hasher("email", "eva.smit@shop-mail.test")
    assert people["C-1"].mail == digest and digest in letters
    assert (people["C-1"].given, people["C-1"].family, people["C-1"].mobile) == (
        "[erased]",
        "[erased]",
        None,
    )
    assert people["H-7"].mail is None  # nothing to hash
    assert people["C-2"].mail == "bob@shop-mail.test" and "bob@shop-mail.test" in letters
    assert first.verification.ok
    kept = {(r.table, r.pk): r.reason for r in first.verification.remaining}
    assert kept[("customer", "C-1")] == "anonymised: no personal data left"
    again = connector.find({"eva": found.identities}, scope="all")["eva"]
    second = eraser.erase(again, found.identities, scope="all", client_id=None)
    assert second.changed == 0 and second.verification.ok
    assert rows() == (people, letters)
    engine.dispose()


def test_retention_periods() -> None:
    assert retention_end(date(2026, 9, 1), "7y") == date(2033, 9, 1)
    assert retention_end(date(2026, 1, 31), "1m") == date(2026, 2, 28)
    assert retention_end(date(2026, 1, 1), "30d") == date(2026, 1, 31)
    with pytest.raises(DataMapError, match="retention period"):
        retention_end(date(2026, 1, 1), "seven years")
