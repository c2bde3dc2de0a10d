"""Erasure on the demo CRM with the planted cast, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.engine import Engine

from connectors.base import Findings, Identity
from connectors.crm.datamap import DataMap, DataMapError, load_datamap
from connectors.crm.sql import CrmSqlConnector, resolve_across
from connectors.identities import parse_identity
from dsr.democrm.planted import DEMO_EMAIL, client_id, expected_rows, plant, planted_id
from dsr.democrm.seed import seed
from dsr.erasure.crm import CrmEraser, ErasureResult
from dsr.settings import DEMO_DATAMAP
from resources.engines import engine_for

Snapshot = dict[tuple[str, str], dict[str, Any]]
MARIA = {parse_identity("email", DEMO_EMAIL)}
TAX = "Legal obligation: tax and accounting records (GDPR Art. 6(1)(c), Art. 17(3)(b))"


def hasher(kind: str, value: str) -> str:
    return hmac.new(b"test-key", f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Demo:
    backend: str
    connectors: dict[str, CrmSqlConnector]
    files: dict[str, Path] = field(default_factory=dict)

    def eraser(self, region: str, **kw: Any) -> CrmEraser:
        return CrmEraser(self.connectors[region], hasher=hasher, **kw)

    def engine(self, region: str) -> Engine:
        return self.connectors[region].engine


def build_demo(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Demo:
    """Two seeded regional CRMs (us, eu) with the planted cast; dropped after the test."""
    if backend == "sqlite":
        files = {r: tmp_path / f"{r}.sqlite" for r in ("us", "eu")}
        urls = {r: f"sqlite:///{p}" for r, p in files.items()}
    else:
        server = request.getfixturevalue("pg_server")
        names = {r: server.create_database() for r in ("us", "eu")}
        urls = {r: server.url(n) for r, n in names.items()}
        files = {}
        for name in names.values():
            request.addfinalizer(lambda n=name: server.drop_database(n))
    datamap = load_datamap(DEMO_DATAMAP)
    connectors = {}
    for region, url in urls.items():
        engine = engine_for(url)
        request.addfinalizer(engine.dispose)
        seed(engine, region=region, contacts=400, seed=3)
        plant(engine, region)
        connectors[region] = CrmSqlConnector(region, engine, datamap)
    return Demo(backend, connectors, files)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Demo]:
    yield build_demo(request, tmp_path, request.param)


def snapshot(engine: Engine, datamap: DataMap, connector: CrmSqlConnector) -> Snapshot:
    """Every row of every mapped table, by (table, primary key)."""
    out: Snapshot = {}
    with engine.connect() as conn:
        for name, tmap in datamap.tables.items():
            table = connector.table(name)
            for row in conn.execute(select(table)).mappings():
                out[(name, str(row[tmap.primary_key]))] = dict(row)
    return out


def snap(demo: Demo, region: str) -> Snapshot:
    c = demo.connectors[region]
    return snapshot(c.engine, c.datamap, c)


def discover(
    demo: Demo, ids: set[Identity], scope: str, client: str | None = None
) -> dict[str, Findings]:
    cid = str(client_id(client)) if client else None
    resolved = resolve_across(demo.connectors.values(), {"maria": ids}, scope=scope, client_id=cid)
    return {
        region: c.find(resolved, scope=scope, client_id=cid)["maria"]
        for region, c in demo.connectors.items()
    }


def erase_everywhere(
    demo: Demo, scope: str, client: str | None = None, *, dry_run: bool = False
) -> tuple[dict[str, Findings], dict[str, ErasureResult]]:
    found = discover(demo, MARIA, scope, client)
    cid = str(client_id(client)) if client else None
    results = {
        region: demo.eraser(region).erase(f, MARIA, scope=scope, client_id=cid, dry_run=dry_run)
        for region, f in found.items()
    }
    return found, results


def redacted(text: str, spans: tuple[tuple[int, int], ...], mark: str = "[redacted]") -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + mark + text[end:]
    return text


def assert_precise(before: Snapshot, after: Snapshot, found: Findings) -> None:
    """Nothing outside the subject's rows changed; mentions changed only inside their spans."""
    own = {(r.ref.table, r.ref.pk) for r in found.rows}
    expected = {key: dict(row) for key, row in before.items() if key not in own}
    for m in found.mentions:
        row = expected[(m.ref.table, m.ref.pk)]
        row[m.column] = redacted(row[m.column], m.spans)
    assert set(after) - set(before) == set(), "rows appeared"
    for key, row in expected.items():
        assert after.get(key) == row, key


def pid(n: int) -> str:
    return str(planted_id("us", n))


# -- user_account --------------------------------------------------------------------------------


def test_user_account_erasure_keeps_billing_and_touches_nobody_else(demo: Demo) -> None:
    before = {r: snap(demo, r) for r in demo.connectors}
    found, results = erase_everywhere(demo, "user_account")
    us = snap(demo, "us")
    user = us[("users", pid(2))]
    assert user["email"] is None and user["phone"] is None and user["date_of_birth"] is None
    assert user["full_name"] == "[erased]"
    assert (user["role"], user["client_id"]) == ("admin", planted_id("us", 2))
    for k in (1, 2, 3):
        old, new = before["us"][("invoices", pid(k))], us[("invoices", pid(k))]
        assert new["billing_email"] is None and new["billing_phone"] is None
        for col in ("number", "amount", "issued_at", "billing_name", "billing_address"):
            assert new[col] == old[col], col
    invoices = next(tp for tp in results["us"].plan.tables if tp.table == "invoices")
    assert (invoices.action, invoices.until, invoices.legal_basis) == ("keep", "2033-09-01", TAX)
    gone = {("visitor_analytics", pid(n)) for n in (1, 2, 3)}
    gone |= {("marketing_subscriptions", pid(1)), ("support_tickets", pid(1))}
    assert gone <= set(before["us"]) and not gone & set(us)
    assert us[("support_tickets", pid(2))]["body"].startswith(
        "Please merge the two records for [redacted] in our account;"
    )
    for region in demo.connectors:
        assert_precise(before[region], snap(demo, region), found[region])
    # Tom and the namesake hold no inextcrm rows here: every one of their rows is untouched.
    for region in ("us", "eu"):
        for person in ("tom", "maria_namesake"):
            for table, pks in expected_rows(region).get(person, {}).items():
                for pk in pks:
                    key = (table, str(pk))
                    assert snap(demo, region)[key] == before[region][key], key
    check = results["us"].verification
    assert check.ok and check.unexpected == []
    assert {(r.table, r.pk) for r in check.remaining} == {
        *(("invoices", pid(k)) for k in (1, 2, 3)),
        ("payment_methods", pid(1)),
    }
    reasons = {(r.table, r.pk): r.reason for r in check.remaining}
    assert reasons[("invoices", pid(1))] == f"kept: {TAX} until 2033-07-01"
    assert reasons[("payment_methods", pid(1))] == f"kept: {TAX} until 2028-06-14"
    assert results["eu"].plan.tables == [] and results["eu"].verification.ok


# -- client_data ---------------------------------------------------------------------------------


def test_client_data_erasure_deletes_her_records_and_redacts_toms_note(demo: Demo) -> None:
    before = {r: snap(demo, r) for r in demo.connectors}
    found, results = erase_everywhere(demo, "client_data", "Northwind Traders")
    us = snap(demo, "us")
    mine = ["contacts", "activities", "deals", "emails", "attachments", "notes"]
    for table in [*mine, "meeting_attendees"]:
        assert (table, pid(1)) in before["us"] and (table, pid(1)) not in us, table
    assert results["us"].applied["contacts"] == {"delete": 1}
    assert us[("notes", pid(2))]["body"] == (
        "Spoke with [redacted] ([redacted]) about the renewal. Tom will review the security "
        "questionnaire."
    )
    for table, pks in expected_rows("us")["tom"].items():
        for pk in pks:
            key = (table, str(pk))
            if key != ("notes", pid(2)):
                assert us[key] == before["us"][key], key
    note = {**before["us"][("notes", pid(2))], "body": us[("notes", pid(2))]["body"]}
    assert us[("notes", pid(2))] == note  # only the body changed
    assert_precise(before["us"], us, found["us"])
    assert snap(demo, "eu") == before["eu"]  # Northwind has no tenant there
    check = results["us"].verification
    assert check.ok and check.remaining == [] and check.unexpected == []


# -- dry run, idempotence, refusal ---------------------------------------------------------------


def test_a_dry_run_changes_nothing_and_predicts_the_real_run(demo: Demo) -> None:
    before = {r: snap(demo, r) for r in demo.connectors}
    _, dry = erase_everywhere(demo, "user_account", dry_run=True)
    assert {r: snap(demo, r) for r in demo.connectors} == before
    assert all(r.dry_run and r.applied == {} for r in dry.values())
    _, real = erase_everywhere(demo, "user_account")
    for region in demo.connectors:
        assert dry[region].plan_counts == real[region].plan_counts
        assert dry[region].plan.changes() == real[region].applied
        assert dry[region].plan.tables == real[region].plan.tables
    assert dry["us"].plan_counts["invoices"] == {"keep": 3}
    assert dry["us"].plan_counts["support_tickets"] == {"delete": 1, "redact": 1}
    assert real["us"].applied["payment_methods"] == {"keep": 0}  # nothing there to erase


@pytest.mark.parametrize(
    ("scope", "client"), [("user_account", None), ("client_data", "Northwind Traders")]
)
def test_running_the_same_erasure_twice_is_safe(demo: Demo, scope: str, client: str | None) -> None:
    first_found, first = erase_everywhere(demo, scope, client)
    after_first = {r: snap(demo, r) for r in demo.connectors}
    cid = str(client_id(client)) if client else None
    for region, f in first_found.items():
        eraser = demo.eraser(region)
        # Every identity the first run resolved, as a pipeline re-running the request would.
        again = demo.connectors[region].find({"maria": f.identities}, scope=scope, client_id=cid)
        result = eraser.erase(again["maria"], f.identities, scope=scope, client_id=cid)
        assert result.changed == 0
        for by_action in result.plan_counts.values():
            assert by_action.get("delete", 0) == 0 and by_action.get("redact", 0) == 0
        assert all(n == 0 for by in result.plan.changes().values() for n in by.values())
        assert result.verification.ok
        assert result.verification.remaining == first[region].verification.remaining
    assert {r: snap(demo, r) for r in demo.connectors} == after_first


def test_a_data_map_missing_an_erase_action_is_refused_before_any_change(
    demo: Demo, tmp_path: Path
) -> None:
    raw = yaml.safe_load(Path(DEMO_DATAMAP).read_text())
    del raw["tables"]["invoices"]["personal_data"]["billing_email"]["erase"]
    broken = tmp_path / "broken.datamap.yaml"
    broken.write_text(yaml.safe_dump(raw))
    us = demo.connectors["us"]
    connector = CrmSqlConnector("us", us.engine, load_datamap(broken))
    found = connector.find({"maria": MARIA}, scope="user_account")["maria"]
    before = snap(demo, "us")
    eraser = CrmEraser(connector, hasher=hasher)
    with pytest.raises(DataMapError, match=r"'invoices', column 'billing_email'.*no erase action"):
        eraser.erase(found, MARIA, scope="user_account", client_id=None)
    assert snap(demo, "us") == before
