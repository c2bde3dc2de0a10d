"""The breach-impact tests' shared set-up: seeded homes, running a query, reading the report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dsr.breach.model import BreachImpact, ClientImpact
from dsr.breach.run import run_breach_impact
from dsr.breach.window import parse_query
from dsr.breach.writer import ReportFiles
from dsr.cli.main import app
from dsr.democrm.planted import client_id, planted_id
from dsr.democrm.schema import contacts
from resources.engines import engine_for
from tests.dsr_env import DsrEnv, environment, make_env

NORTHWIND = str(client_id("Northwind Traders"))
CONTOSO = str(client_id("Contoso Analytics"))
FABRIKAM = str(client_id("Fabrikam GmbH"))
MARIA_PHONE = "+14155550142"
NAMESAKE, JONAS, TOM = "m.jensen@fabrikam.test", "jonas.weber@example.net", "tom.becker@example.net"
runner = CliRunner()


def backend_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DsrEnv]:
    """A seeded home on the fixture's backend (SQLite, or two PostgreSQL CRM databases)."""
    home, overrides, databases = tmp_path / "home", {}, []
    server = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    if server is not None:
        for region in ("us", "eu"):
            databases.append(server.create_database())
            overrides[f"DSR_CRM_URL_{region.upper()}"] = server.url(databases[-1])
    try:
        with environment(home, **overrides):
            env = make_env(home)
            yield env
            for url in env.settings.crm_urls.values():
                engine_for(url).dispose()
    finally:
        for name in databases:
            server.drop_database(name)  # type: ignore[union-attr]


def lite_env(tmp_path: Path) -> Iterator[DsrEnv]:
    """A seeded SQLite home: for what does not depend on the backend."""
    with environment(tmp_path / "home"):
        yield make_env(tmp_path / "home")


def breach(
    env: DsrEnv, tables: str, since: str, until: str, regions: str | None = None
) -> tuple[BreachImpact, ReportFiles]:
    res = env.resources
    query = parse_query(
        env.crm.datamap(), env.settings.regions, tables=tables, since=since, until=until,
        regions=regions,
    )  # fmt: skip
    return run_breach_impact(
        env.crm.connectors(),
        query,
        ledger=env.ledger,
        store_dir_for=lambda found: res["exports"].dir_for(found)[1],
        backups=res["backups"].store(),
        tombstones=res["backups"].tombstones(),
        now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
    )


def client(impact: BreachImpact, tenant: str) -> ClientImpact:
    (found,) = [c for c in impact.clients if c.client_id == tenant]
    return found


Person = dict[str, Any]


def people(files: ReportFiles, tenant: str | None = None) -> list[Person]:
    """The people the report lists for a Client (or, without one, iNextCRM's own)."""
    doc = json.loads(files.json_path.read_text())
    if tenant is None:
        return doc["inextcrm"]["people"]
    (found,) = [c for c in doc["clients"] if c["client_id"] == tenant]
    assert found["people_count"] == len(found["people"])
    return found["people"]


def with_email(found: list[Person], email: str) -> list[Person]:
    return [p for p in found if email in p["emails"]]


def insert_contact(env: DsrEnv, n: int, **values: object) -> None:
    row = {
        "id": planted_id("us", n), "client_id": int(NORTHWIND), "last_name": "Jensen",
        "first_name": "Maria", **values,
    }  # fmt: skip
    with engine_for(env.settings.crm_urls["us"]).begin() as conn:
        conn.execute(contacts.insert().values(**row))


def dsr(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["breach-impact", *args])
    return result.exit_code, result.stdout, result.stderr
