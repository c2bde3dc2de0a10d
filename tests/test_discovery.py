"""Discovery on the demo CRM, on SQLite and on a real PostgreSQL: recall, precision, batching."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from connectors.base import Findings, Identity
from connectors.crm.datamap import load_datamap
from connectors.crm.sql import CrmSqlConnector, resolve_across
from connectors.identities import parse_identity
from dsr.democrm.planted import DEMO_EMAIL, client_id, expected_rows, mentions_for, plant
from dsr.democrm.seed import seed
from dsr.settings import DEMO_DATAMAP
from resources.engines import engine_for


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def regions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[CrmSqlConnector]]:
    """Two seeded regional CRMs with the planted cast, on the backend under test."""
    if request.param == "sqlite":
        urls = {r: f"sqlite:///{tmp_path / f'{r}.sqlite'}" for r in ("us", "eu")}
        cleanup = []
    else:
        server = request.getfixturevalue("pg_server")
        names = {r: server.create_database() for r in ("us", "eu")}
        urls = {r: server.url(n) for r, n in names.items()}
        cleanup = list(names.values())
    datamap = load_datamap(DEMO_DATAMAP)
    connectors = []
    for region, url in urls.items():
        engine = engine_for(url)
        seed(engine, region=region, contacts=400, seed=3)
        plant(engine, region)
        connectors.append(CrmSqlConnector(region, engine, datamap))
    yield connectors
    for connector in connectors:
        connector.engine.dispose()
    for name in cleanup:
        request.getfixturevalue("pg_server").drop_database(name)


def rows_by_table(findings: Findings) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for row in findings.rows:
        out.setdefault(row.ref.table, []).append(int(row.ref.pk))
    return {t: sorted(p) for t, p in out.items()}


def mentions_by_table(findings: Findings) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for m in findings.mentions:
        out.setdefault(m.ref.table, []).append(int(m.ref.pk))
    return {t: sorted(p) for t, p in out.items()}


def find_all(
    connectors: list[CrmSqlConnector],
    subjects: dict[str, set[Identity]],
    scope: str,
    client: str | None = None,
) -> dict[str, dict[str, Findings]]:
    """subject -> region -> findings, the way the pipeline does it (resolve across, then find)."""
    cid = str(client_id(client)) if client else None
    resolved = resolve_across(connectors, subjects, scope=scope, client_id=cid)
    out: dict[str, dict[str, Findings]] = {key: {} for key in subjects}
    for connector in connectors:
        for key, findings in connector.find(resolved, scope=scope, client_id=cid).items():
            out[key][connector.region] = findings
    return out


def in_scope(connector: CrmSqlConnector, scope: str, wanted: dict[str, list[int]]) -> dict:
    tables = set(connector.tables_in_scope(scope)[0])
    return {t: p for t, p in wanted.items() if t in tables}


def test_a_variant_spelling_finds_the_user_account_in_every_region(
    regions: list[CrmSqlConnector],
) -> None:
    subject = {"maria": {parse_identity("email", "  MARIA.Jensen@EXAMPLE.org ")}}
    found = find_all(regions, subject, "user_account")["maria"]
    us = next(c for c in regions if c.region == "us")
    assert rows_by_table(found["us"]) == in_scope(us, "user_account", expected_rows("us")["maria"])
    # Her earliest visit was anonymous: only the cookie id harvested from her later visits finds it.
    assert len(rows_by_table(found["us"])["visitor_analytics"]) == 3
    assert mentions_by_table(found["us"]) == in_scope(
        us, "user_account", mentions_for("maria", "us")
    )
    assert {r.ref.region for r in found["us"].rows} == {"us"}


@pytest.mark.parametrize(
    ("client", "region"), [("Northwind Traders", "us"), ("Fabrikam GmbH", "eu")]
)
def test_client_data_stays_in_the_tenant(
    regions: list[CrmSqlConnector], client: str, region: str
) -> None:
    subject = {"maria": {parse_identity("email", DEMO_EMAIL)}}
    found = find_all(regions, subject, "client_data", client)["maria"]
    connector = next(c for c in regions if c.region == region)
    wanted = in_scope(connector, "client_data", expected_rows(region)["maria"])
    assert rows_by_table(found[region]) == wanted
    assert mentions_by_table(found[region]) == in_scope(
        connector, "client_data", mentions_for("maria", region, (client,))
    )
    other = next(c.region for c in regions if c.region != region)
    assert found[other].rows == []  # the Client has no tenant there


def test_a_batch_gives_each_person_what_they_get_alone(regions: list[CrmSqlConnector]) -> None:
    """Past the pre-filter threshold mentions are found by streaming: results must not change."""
    people = {
        "maria": {parse_identity("email", DEMO_EMAIL)},
        "tom": {parse_identity("email", "tom.becker@example.net")},
        "namesake": {parse_identity("email", "m.jensen@fabrikam.test")},
    }
    # Synthetic people push the batch past the SQL pre-filter into the streaming path.
    with regions[0].engine.connect() as conn:
        synthetic = [r[0] for r in conn.exec_driver_sql("SELECT email FROM contacts LIMIT 40")]
    batch = dict(people)
    for i, email in enumerate(synthetic):
        batch[f"s{i}"] = {parse_identity("email", email)}
    together = find_all(regions, batch, "all")
    for key, identities in people.items():
        alone = find_all(regions, {key: identities}, "all")[key]
        for region in ("us", "eu"):
            assert rows_by_table(together[key][region]) == rows_by_table(alone[region]), key
            assert mentions_by_table(together[key][region]) == mentions_by_table(alone[region])


@pytest.mark.parametrize(
    "email",
    [
        "o'brien@example.org",  # valid, and a quote in SQL
        "100%_sure@example.org",  # LIKE wildcards must match literally
        "robert@example.org",
    ],
)
def test_hostile_but_valid_addresses_find_nothing_and_break_nothing(
    regions: list[CrmSqlConnector], email: str
) -> None:
    found = find_all(regions, {"x": {parse_identity("email", email)}}, "all")["x"]
    assert all(f.rows == [] and f.mentions == [] for f in found.values())


def test_the_statements_discovery_sends_use_the_identity_indexes(
    regions: list[CrmSqlConnector],
) -> None:
    """What the planner does with the statement really sent (its bound parameters included):
    a phone expression whose numbers were bound differed from the index's, and every phone
    lookup read the whole table while `dsr datamap check` said it was indexed."""
    sent: list[tuple[Any, str, Any]] = []

    def capture(conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "_match" in statement and conn.dialect.name == "sqlite":
            sent.append((conn, statement, params))

    us = next(c for c in regions if c.region == "us")
    event.listen(us.engine, "before_cursor_execute", capture)
    try:
        resolve_across(
            regions,
            {"m": {parse_identity("email", DEMO_EMAIL), parse_identity("phone", "+14155550142")}},
            scope="user_account",
            client_id=None,
        )
    finally:
        event.remove(us.engine, "before_cursor_execute", capture)
    if us.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans by cost on tiny tables")
    # Without the seed's ANALYZE statistics, as on a large table: the planner then seeks
    # wherever an index matches the expression, and a tiny table's cheap scan hides nothing.
    path = us.engine.url.database
    with closing(sqlite3.connect(path)) as raw:
        raw.execute("DELETE FROM sqlite_stat1")
        raw.commit()
    plans: dict[str, set[str]] = {}
    with closing(sqlite3.connect(path)) as raw:
        for _, statement, params in sent:
            table = statement.split("FROM ", 1)[1].split()[0]
            rows = raw.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
            plans.setdefault(table, set()).add(" ".join(str(r[-1]) for r in rows))
    assert {"users", "invoices"} <= set(plans)
    for table in ("users", "invoices"):
        assert all("USING INDEX" in p for p in plans[table]), (table, plans[table])
