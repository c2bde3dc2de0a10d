"""`--from-csv`: every valid row becomes a request, every bad row is named and registers nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsr.cli.main import app
from dsr.democrm.planted import DEMO_EMAIL, client_id
from dsr.ledger import State
from pipelines.partitions import partitions_name
from tests.dsr_env import DsrEnv, demo_environment

runner = CliRunner()
NORTHWIND = str(client_id("Northwind Traders"))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def csv_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return path


PEOPLE = f"""email,phone,scope,client,authorization,ticket
{DEMO_EMAIL},,,,,SUP-1
tom.becker@example.net,,client_data,{NORTHWIND},NW-DPA-9,SUP-2
not-an-address,,,,,SUP-3
priya.raman@northwind.test,+1 415 555 0101,,,,SUP-4
lena@example.org,,client_data,999999,NW-1,SUP-5
x@example.org'; DROP TABLE users; --,,,,,SUP-6
anna@example.org,,client_data,{NORTHWIND},,SUP-7
"""


def test_valid_rows_are_registered_and_fulfilled_bad_rows_are_named(
    env: DsrEnv, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["access", "--from-csv", str(csv_file(tmp_path, PEOPLE)), "--json"])
    payload = json.loads(result.stdout)
    assert result.exit_code == 1  # some rows were rejected
    assert payload["registered"] == 3
    rejected = {r["line"]: r["reason"] for r in payload["rejected"]}
    assert set(rejected) == {4, 6, 7, 8}
    assert "e-mail" in rejected[4] and "unknown client" in rejected[6]
    assert "authorisation" in rejected[8]
    records = [env.ledger.get(rid) for rid in payload["request_ids"]]
    assert {r.state for r in records} == {State.FULFILLED}
    assert payload["states"] == {"fulfilled": 3}
    assert len(env.ledger.list_requests()) == 3  # nothing registered for a bad row
    assert all(Path(r.result["bundle"]).is_file() for r in records)


def test_queue_registers_only_and_the_partitions_exist(env: DsrEnv, tmp_path: Path) -> None:
    people = f"email\n{DEMO_EMAIL}\ntom.becker@example.net\n"
    result = runner.invoke(
        app, ["opt-out", "--from-csv", str(csv_file(tmp_path, people)), "--queue", "--json"]
    )
    payload = json.loads(result.stdout)
    assert result.exit_code == 0 and payload["registered"] == 2
    assert payload["states"] == {"received": 2}
    opt_outs = set(env.instance.get_dynamic_partitions(partitions_name("opt_out")))
    assert set(payload["request_ids"]) <= opt_outs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("phone\n+14155550100\n", "no 'email' column"),
        ("email,shoe_size\nx@example.org,42\n", "unknown column 'shoe_size'"),
        ("", "no header row"),
    ],
)
def test_a_file_that_is_not_a_people_csv_registers_nothing(
    env: DsrEnv, tmp_path: Path, text: str, message: str
) -> None:
    result = runner.invoke(app, ["access", "--from-csv", str(csv_file(tmp_path, text))])
    assert result.exit_code == 2 and message in result.stderr
    assert env.ledger.list_requests() == []


def test_email_and_from_csv_are_one_or_the_other(env: DsrEnv, tmp_path: Path) -> None:
    path = csv_file(tmp_path, f"email\n{DEMO_EMAIL}\n")
    both = runner.invoke(app, ["access", "--email", DEMO_EMAIL, "--from-csv", str(path)])
    assert both.exit_code == 2 and "not both" in both.stderr
    neither = runner.invoke(app, ["access"])
    assert neither.exit_code == 2 and "Missing option '--email'" in neither.stderr
    assert env.ledger.list_requests() == []
