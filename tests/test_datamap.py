"""A data map that does not fit its schema is refused with the file, table and column named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine

from connectors.crm.datamap import DataMapError, load_datamap
from connectors.crm.datamap_checks import validate_against
from tests.shop_schema import build_shop

SHOP_MAP = Path(__file__).parent / "data" / "shop.datamap.yaml"


def write_map(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load(SHOP_MAP.read_text())
    change(raw)
    path = tmp_path / "broken.datamap.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def shop_engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path / 'shop.sqlite'}")
    build_shop(engine)
    return engine


def test_the_shop_map_fits_its_schema(shop_engine) -> None:  # type: ignore[no-untyped-def]
    validate_against(load_datamap(SHOP_MAP), shop_engine)


def test_unknown_table_is_named(tmp_path: Path, shop_engine) -> None:  # type: ignore[no-untyped-def]
    path = write_map(tmp_path, lambda m: m["tables"].update(wishlist={"controller": "client"}))
    with pytest.raises(DataMapError, match=r"broken.datamap.yaml: table 'wishlist' is not in"):
        validate_against(load_datamap(path), shop_engine)


def test_unknown_column_is_named(tmp_path: Path, shop_engine) -> None:  # type: ignore[no-untyped-def]
    def change(m: dict) -> None:
        m["tables"]["customer"]["identities"][0]["column"] = "email_address"

    with pytest.raises(
        DataMapError, match=r"table 'customer', column 'email_address' \(identities"
    ):
        validate_against(load_datamap(write_map(tmp_path, change)), shop_engine)


def test_reference_to_missing_column(tmp_path: Path, shop_engine) -> None:  # type: ignore[no-untyped-def]
    def change(m: dict) -> None:
        m["tables"]["orders"]["references"][0]["to"] = "customer.number"

    with pytest.raises(DataMapError, match=r"column 'number' is not in table 'customer'"):
        validate_against(load_datamap(write_map(tmp_path, change)), shop_engine)


def test_reference_cycle_is_refused(tmp_path: Path) -> None:
    def change(m: dict) -> None:
        m["tables"]["customer"]["references"].append({"column": "cust_no", "to": "orders.cust_no"})

    with pytest.raises(DataMapError, match=r"cycle.*customer -> orders -> customer|cycle"):
        load_datamap(write_map(tmp_path, change))


def test_client_table_without_tenant_column(tmp_path: Path) -> None:
    with pytest.raises(DataMapError, match=r"table 'customer' holds Client Data.*no tenant_column"):
        load_datamap(write_map(tmp_path, lambda m: m["tables"]["customer"].pop("tenant_column")))


def test_misspelt_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataMapError, match=r"tables.customer.identites: Extra inputs"):
        load_datamap(write_map(tmp_path, lambda m: m["tables"]["customer"].update(identites=[])))


def test_keep_without_legal_basis(tmp_path: Path) -> None:
    def change(m: dict) -> None:
        m["tables"]["orders"]["erasure"] = {"action": "keep"}

    with pytest.raises(DataMapError, match=r"tables.orders.erasure.*legal_basis"):
        load_datamap(write_map(tmp_path, change))


def test_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'nowhere' / 'gone.sqlite'}")
    with pytest.raises(DataMapError, match="cannot open database"):
        validate_against(load_datamap(SHOP_MAP), engine)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataMapError, match="data map file not found"):
        load_datamap(tmp_path / "nope.yaml")
