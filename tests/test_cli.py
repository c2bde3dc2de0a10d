"""`dsr` as an engineer or a script uses it: exit codes, messages, JSON."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsr.cli.main import app
from dsr.democrm.planted import DEMO_EMAIL, client_id
from tests.dsr_env import DsrEnv, demo_environment

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def dsr(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_access_json_ends_with_request_id_bundle_and_counts(env: DsrEnv) -> None:
    code, out, _ = dsr(
        "access", "--email", "maria.JENSEN@example.org", "--ticket", "SUP-9", "--json"
    )
    assert code == 0, out
    payload = json.loads(out)
    assert payload["ok"] and payload["state"] == "fulfilled"
    assert payload["request_id"].startswith("r-")
    assert Path(payload["bundle"]).is_file()
    assert payload["rows_per_system"]["crm:us"] >= 10
    assert set(payload["rows_per_system"]) == {"crm:us", "crm:eu"}

    code, out, _ = dsr("status", payload["request_id"], "--json")
    status = json.loads(out)
    assert code == 0 and status["state"] == "fulfilled" and status["audit_chain_ok"]
    assert next(e["event"] for e in status["audit"]) == "registered"


def test_access_prints_a_table_for_people(env: DsrEnv) -> None:
    # The Client by the name the README and the demo show; the ledger keeps its id.
    code, out, _ = dsr(
        "access",
        "-e",
        DEMO_EMAIL,
        "--scope",
        "client_data",
        "--client",
        "Northwind Traders",
        "--authorization",
        "NW-DPA-2026-01",
    )
    assert code == 0, out
    assert "crm:us" in out and "fulfilled" in out and ".zip" in out
    (record,) = env.ledger.list_requests()
    assert record.client_id == str(client_id("Northwind Traders"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "maria.jensen"], "not a valid address"),
        (["--email", "' OR 1=1 --"], "not a valid address"),
        (
            ["--email", DEMO_EMAIL, "--scope", "client_data", "--client", "1900000001"],
            "authorisation",
        ),
        (
            [
                "--email",
                DEMO_EMAIL,
                "--scope",
                "client_data",
                "--client",
                "77",
                "--authorization",
                "DPA-1",
            ],
            "unknown client",
        ),
        (
            [
                "--email",
                DEMO_EMAIL,
                "--scope",
                "client_data",
                "--client",
                "Northwind Trader",
                "--authorization",
                "DPA-1",
            ],
            "did you mean 'Northwind Traders'?",
        ),
        (["--email", DEMO_EMAIL, "--phone", "call me"], "phone"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_registered(
    env: DsrEnv, args: list[str], message: str
) -> None:
    code, _out, err = dsr("access", *args)
    assert code == 2
    assert message in err
    assert env.ledger.list_requests() == []
    assert list(env.settings.export_dirs["us"].glob("*")) == []


def test_json_errors_are_json(env: DsrEnv) -> None:
    code, out, _ = dsr("access", "--email", "nope", "--json")
    assert code == 2
    assert json.loads(out)["ok"] is False


def test_queue_only_registers(env: DsrEnv) -> None:
    code, out, _ = dsr("access", "--email", DEMO_EMAIL, "--queue", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["queued"] and env.ledger.get(payload["request_id"]).state == "received"


def test_status_of_an_unknown_request(env: DsrEnv) -> None:
    code, _, err = dsr("status", "r-20260101-00000000")
    assert code == 2 and "r-20260101-00000000" in err


def test_verify_bundle_passes_then_names_a_tampered_file(env: DsrEnv, tmp_path: Path) -> None:
    code, out, _ = dsr("access", "--email", DEMO_EMAIL, "--json")
    bundle = Path(json.loads(out)["bundle"])
    pub = tmp_path / "inextcrm.pub"
    code, out, _ = dsr("public-key")
    assert code == 0 and out.startswith("-----BEGIN PUBLIC KEY-----")
    pub.write_text(out)
    code, out, _ = dsr("verify-bundle", str(bundle), "--public-key", str(pub))
    assert code == 0 and "valid" in out

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "data/crm/us/users.json":
                data = data.replace(b"Maria", b"Marta")
            dst.writestr(info, data)
    code, out, _ = dsr("verify-bundle", str(tampered), "--public-key", str(pub), "--json")
    assert code == 1
    problems = json.loads(out)["problems"]
    assert any("data/crm/us/users.json" in p for p in problems)
