"""The data map drives discovery on a schema that has nothing in common with the demo CRM."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from connectors.base import Identity
from connectors.crm.datamap import load_datamap
from connectors.crm.sql import CrmSqlConnector
from connectors.identities import parse_identity
from tests.shop_schema import build_shop

SHOP_MAP = Path(__file__).parent / "data" / "shop.datamap.yaml"


@pytest.fixture
def shop(tmp_path: Path) -> CrmSqlConnector:
    engine = create_engine(f"sqlite:///{tmp_path / 'shop.sqlite'}")
    build_shop(engine)
    connector = CrmSqlConnector("eu", engine, load_datamap(SHOP_MAP), default_phone_region="NL")
    connector.validate()
    return connector


def eva() -> set[Identity]:
    return {parse_identity("email", "  EVA.smit@shop-mail.TEST")}


def owned(findings, table: str) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(r.ref.pk for r in findings.rows if r.ref.table == table)


def test_all_scopes_follow_identities_references_and_parents(shop: CrmSqlConnector) -> None:
    found = shop.find({"eva": eva()}, scope="all")["eva"]
    # H-7 shares only her phone, written differently: reached through the identity fixpoint.
    assert owned(found, "customer") == ["C-1", "H-7"]
    assert owned(found, "orders") == ["100", "200"]
    assert owned(found, "order_line") == ["1", "2", "4"]  # children of her orders only
    assert owned(found, "profile") == ["10"]  # a parent-direction reference
    assert owned(found, "review") == ["1"]
    assert owned(found, "newsletter") == ["eva.smit@shop-mail.test"]
    assert {r.ref.region for r in found.rows} == {"eu"}


def test_mentions_are_reported_apart_from_own_records(shop: CrmSqlConnector) -> None:
    found = shop.find({"eva": eva()}, scope="all")["eva"]
    mentions = {(m.ref.table, m.ref.pk): m for m in found.mentions}
    # Review 2 names her and gives her e-mail; review 3 says only "Eva": a first name is no match.
    assert set(mentions) == {("review", "2")}
    assert mentions[("review", "2")].kinds == ("email", "name")
    assert "bob" not in {r.data.get("cust_no") for r in found.rows}


def test_nobody_else_is_swept_in(shop: CrmSqlConnector) -> None:
    found = shop.find({"eva": eva()}, scope="all")["eva"]
    everything = {(r.ref.table, r.ref.pk) for r in found.rows}
    assert ("customer", "C-2") not in everything
    assert ("orders", "101") not in everything
    assert ("order_line", "3") not in everything
    assert ("profile", "11") not in everything


def test_client_data_scope_stays_inside_one_tenant(shop: CrmSqlConnector) -> None:
    found = shop.find({"eva": eva()}, scope="client_data", client_id="1")["eva"]
    assert owned(found, "customer") == ["C-1"]
    assert owned(found, "orders") == ["100"]
    assert owned(found, "newsletter") == []  # the shop operator's own table: another controller
    assert "newsletter" in found.skipped_tables


def test_a_batch_is_attributed_per_subject(shop: CrmSqlConnector) -> None:
    bob = {parse_identity("email", "bob@shop-mail.test")}
    found = shop.find({"eva": eva(), "bob": bob}, scope="all")
    assert owned(found["bob"], "customer") == ["C-2"]
    assert owned(found["bob"], "order_line") == ["3"]
    assert owned(found["eva"], "customer") == ["C-1", "H-7"]


def test_unknown_identity_finds_nothing(shop: CrmSqlConnector) -> None:
    nobody = {parse_identity("email", "nobody@shop-mail.test")}
    found = shop.find({"x": nobody}, scope="all")["x"]
    assert found.rows == [] and found.mentions == []
