"""A data map that cannot be applied is refused before anything runs, with what to do; and
`dsr datamap check` says which lookups would scan and prints the indexes that fix them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from connectors.crm.datamap import DataMapError, load_datamap
from connectors.crm.sql import CrmSqlConnector
from dsr.cli.main import app
from resources.engines import engine_for
from tests.helpdesk_schema import build_helpdesk, snapshot

HELPDESK_MAP = Path(__file__).parent / "data" / "helpdesk.datamap.yaml"
runner = CliRunner()


def _map(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    raw = yaml.safe_load(HELPDESK_MAP.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "changed.datamap.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _db(tmp_path: Path, extra_ddl: tuple[str, ...] = ()) -> str:
    url = f"sqlite:///{tmp_path / 'de.sqlite'}"
    engine = engine_for(url)
    build_helpdesk(engine, "de")
    with engine.begin() as conn:
        for ddl in extra_ddl:
            conn.execute(text(ddl))
    return url


def _set(path: list[str], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        node = raw
        for key in path[:-1]:
            node = node[key]
        if value is None:
            node.pop(path[-1])
        else:
            node[path[-1]] = value

    return change


# The tables these cases add: one without any key, one kept with a too-narrow column, and a
# kept copy of invoices whose foreign key would block the delete of its customer.
NO_KEY = "CREATE TABLE visits (email VARCHAR(120), seen DATE)"
NARROW = (
    "CREATE TABLE surveys (survey_id INTEGER PRIMARY KEY, cust_id INTEGER, code VARCHAR(4) "
    "NOT NULL, answer VARCHAR(4))"
)
BLOCKING = (
    "CREATE TABLE receipts (receipt_no VARCHAR(12) PRIMARY KEY, cust_id INTEGER "
    "REFERENCES customers (cust_id), total NUMERIC(10, 2) NOT NULL)"
)
KEPT = {"action": "keep", "legal_basis": "tax law", "retain_for": "10y"}


def _add(name: str, spec: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        raw["tables"][name] = {"controller": "inextcrm", **spec}

    return change


def _add_surveys(personal_data: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return _add(
        "surveys",
        {
            "primary_key": "survey_id",
            "references": [{"column": "cust_id", "to": "customers.cust_id"}],
            "personal_data": personal_data,
            "erasure": {"action": "anonymise"},
        },
    )


def _add_receipts(**spec: Any) -> Callable[[dict[str, Any]], None]:
    return _add(
        "receipts",
        {
            "primary_key": "receipt_no",
            "references": [{"column": "cust_id", "to": "customers.cust_id"}],
            "erasure": KEPT,
            **spec,
        },
    )


CASES = [
    pytest.param(
        _set(["tables", "tickets", "primary_key"], "ticket_id"),
        (),
        "table 'tickets': primary_key 'ticket_id' is neither the table's primary key nor a "
        "unique constraint",
        id="a key that is not unique",
    ),
    pytest.param(
        _add(
            "visits",
            {
                "primary_key": "email",
                "identities": [{"column": "email", "kind": "email"}],
                "erasure": {"action": "delete"},
            },
        ),
        (NO_KEY,),
        "table 'visits' has no primary key or unique constraint",
        id="a table without any key",
    ),
    pytest.param(
        _add_surveys({"code": {"category": "x", "erase": "null"}}),
        (NARROW,),
        "table 'surveys', column 'code': 'null' would write NULL, but the column is NOT NULL",
        id="null on a NOT NULL column",
    ),
    pytest.param(
        _add_surveys(
            {
                "answer": {"category": "x", "erase": "placeholder"},
                "cust_id": {"category": "link", "erase": "null"},
            }
        ),
        (NARROW,),
        "table 'surveys', column 'answer': the placeholder '[erased]' is longer than the "
        "column (4)",
        id="a placeholder that does not fit",
    ),
    pytest.param(
        _add_receipts(),
        (BLOCKING,),
        "table 'receipts' is kept on erasure, but its column 'cust_id' points at "
        "customers.cust_id, which erasure deletes",
        id="a kept table under a deleted parent",
    ),
    pytest.param(
        _set(["tables", "orders", "references"], None),
        (),
        "table 'orders' has a foreign key (cust_id) -> 'customers', a table erasure deletes, "
        "that the data map does not declare as a reference",
        id="a foreign key the map does not follow",
    ),
    pytest.param(
        _set(["tables", "invoices", "personal_data", "billed_to", "erase"], None),
        (),
        "table 'invoices', column 'billed_to': personal data with no erase action",
        id="personal data without an action",
    ),
    pytest.param(
        _set(["tables", "customers", "erasure"], None),
        (),
        "table 'customers' has no erasure action",
        id="a table without an erasure action",
    ),
    pytest.param(
        _set(["tables", "tickets", "personal_data", "email", "field"], "email"),
        (),
        "table 'tickets': its primary key includes 'email', which is personal data, and "
        "field email would write that key into the ledger's audit",
        id="a rectifiable field on a table keyed by e-mail",
    ),
    pytest.param(
        _set(["tables", "tickets", "restriction"], {"set": {"on_hold": True}}),
        ("ALTER TABLE tickets ADD COLUMN on_hold BOOLEAN",),
        "table 'tickets': its primary key includes 'email', which is personal data, and "
        "restriction would write that key into the ledger's audit",
        id="a restriction on a table keyed by e-mail",
    ),
]


@pytest.mark.parametrize(("change", "ddl", "message"), CASES)
def test_a_map_that_cannot_be_applied_is_refused_naming_what_to_fix(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], ddl: tuple[str, ...], message: str
) -> None:
    url = _db(tmp_path, ddl)
    path = _map(tmp_path, change)
    before = snapshot(engine_for(url))
    connector = CrmSqlConnector("de", engine_for(url), load_datamap(path))
    with pytest.raises(DataMapError) as refused:
        connector.validate()
    assert str(path) in str(refused.value)
    assert message in str(refused.value)
    assert snapshot(engine_for(url)) == before


def test_the_pointer_cleared_by_the_map_makes_a_kept_table_valid(tmp_path: Path) -> None:
    url = _db(tmp_path, (BLOCKING,))
    path = _map(
        tmp_path, _add_receipts(personal_data={"cust_id": {"category": "link", "erase": "null"}})
    )
    CrmSqlConnector("de", engine_for(url), load_datamap(path)).validate()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(["regions", "de", "phone_country"], "XX"), "'XX' is not an ISO country code"),
        (_set(["tables", "tickets", "primary_key"], []), "primary_key must name one column"),
    ],
)
def test_a_map_with_a_bad_value_is_refused_when_loaded(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(DataMapError, match=message):
        load_datamap(_map(tmp_path, change))


def _cli_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The help desk's de region, the only one `dsr` is configured with; its URL."""
    url = _db(tmp_path)
    monkeypatch.setenv("DSR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DSR_REGIONS", "de")
    monkeypatch.setenv("DSR_CRM_URL_DE", url)
    return url


def test_datamap_check_prints_the_indexes_that_stop_full_scans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _cli_region(tmp_path, monkeypatch)
    monkeypatch.setenv("DSR_DATAMAP", str(HELPDESK_MAP))
    first = runner.invoke(app, ["datamap", "check", "--json"])
    assert first.exit_code == 1, first.output
    report = json.loads(first.stdout)
    scans = {(lk["table"], lk["column"]) for r in report["regions"] for lk in r["lookups"]}
    unindexed = {
        (lk["table"], lk["column"])
        for r in report["regions"]
        for lk in r["lookups"]
        if not lk["indexed"]
    }
    assert ("customers", "email") in unindexed and ("customers", "phone") in unindexed
    assert ("tickets", "email") in scans and ("orders", "cust_id") in unindexed
    # The statements printed are the fix, exactly: run them and every lookup uses an index.
    with engine_for(url).begin() as conn:
        for statement in report["create_index"]:
            conn.exec_driver_sql(statement)
    again = runner.invoke(app, ["datamap", "check", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["create_index"] == []


def test_datamap_check_refuses_a_broken_map_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cli_region(tmp_path, monkeypatch)
    path = _map(tmp_path, _set(["tables", "tickets", "primary_key"], "ticket_id"))
    result = runner.invoke(app, ["datamap", "check", "--datamap", str(path)])
    assert result.exit_code == 2
    assert "primary_key 'ticket_id' is neither" in result.stderr
