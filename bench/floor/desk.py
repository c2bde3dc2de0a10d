"""The help desk (``tests/helpdesk_schema.py``), a schema no product code knows, mapped only by
``tests/data/helpdesk.datamap.yaml``: seeded at benchmark size, and its raw-SQL floor.

Each region (de, na) gets the test's planted cast plus synthetic customers, tickets (keyed by
ticket id *and* e-mail), orders with their items, invoices and free-text notes. The indexes are
the ones ``connectors.crm.datamap_indexes.check_lookups`` asks for, created from the statements it
prints: what an operator mapping this schema would be told to run.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Connection, Engine, make_url

from bench.crm_cache import CACHE_DIR, MARKER
from bench.floor.crm import People, mentions
from bench.floor.sql import Found, Values, email_sql, lookup, phone_sql
from connectors.crm.datamap import DataMap, load_datamap
from connectors.crm.datamap_indexes import check_lookups
from connectors.crm.sql import CrmSqlConnector
from connectors.crm.sql_helpers import row_key
from resources.engines import engine_for
from tests import helpdesk_schema as desk

if TYPE_CHECKING:
    from bench.floor.run import Case

DATAMAP = Path(desk.__file__).parent / "data" / "helpdesk.datamap.yaml"
REGIONS = ("de", "na")
_BASE = {"de": 1_000, "na": 50_000_000}  # past the planted rows' ids; apart per region
_DAY = date(2026, 3, 2)
_CHUNK = 20_000


def _customer(region: str, i: int) -> dict[str, Any]:
    if region == "de":
        email, phone = f"kunde{i}@beispiel.de", f"0211 {1_000_000 + i}"
    else:
        email = f"customer{i}@example.com"
        phone = f"(212) {200 + (i // 10_000) % 700:03d}-{i % 10_000:04d}"
    # Some addresses stored with capitals and spaces: lower(trim()) must still find them.
    stored = f" {email.upper()}" if i % 7 == 0 else email
    return {"email": stored, "phone": phone, "full_name": f"Person{i} Muster{i % 997}"}


def _rows(region: str, tickets: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(f"{seed}/helpdesk/{region}")
    base = _BASE[region]
    n_cust, n_orders = max(tickets // 3, 10), max(tickets // 2, 10)
    customers = [
        {"cust_id": base + i, "account_id": base + i % 100, **_customer(region, i)}
        for i in range(n_cust)
    ]
    pick = lambda: customers[rng.randrange(n_cust)]  # noqa: E731
    rows: dict[str, list[dict[str, Any]]] = {
        "accounts": [{"account_id": base + a, "name": f"Account {a}"} for a in range(100)],
        "customers": customers,
        "tickets": [
            {"ticket_id": f"T-{base + j}", "email": pick()["email"].strip().lower(),
             "subject": f"Question {j}"}
            for j in range(tickets)
        ],
        "orders": [
            {"order_id": base + o, "cust_id": pick()["cust_id"], "placed": _DAY}
            for o in range(n_orders)
        ],
        "invoices": [],
        "notes": [],
    }  # fmt: skip
    rows["order_items"] = [
        {"order_id": o["order_id"], "item_no": k, "product": f"Item {k}"}
        for o in rows["orders"]
        for k in (1, 2)
    ]
    for n in range(n_orders):
        c = pick()
        rows["invoices"].append(
            {"invoice_no": f"INV-{base + n}", "cust_id": c["cust_id"],
             "billed_to": c["email"].strip().lower(), "amount": Decimal("10.00"),
             "issued_on": _DAY - timedelta(days=n % 365)}
        )  # fmt: skip
    for n in range(n_cust):
        c = pick()
        body = f"Call back {c['full_name']}" if n % 3 else f"Wrote to {c['email'].strip()}"
        rows["notes"].append({"note_id": base + n, "account_id": base + n % 100, "body": body})
    for table, planted in desk.ROWS[region].items():
        rows[table] = planted + rows[table]
    return rows


def _seed(engine: Engine, region: str, tickets: int, seed: int, dm: DataMap) -> None:
    desk.metadata.create_all(engine)
    rows = _rows(region, tickets, seed)
    with engine.begin() as conn:
        for table in desk.metadata.sorted_tables:
            data = rows[table.name]
            for start in range(0, len(data), _CHUNK):
                conn.execute(insert(table), data[start : start + _CHUNK])
    connector = CrmSqlConnector(region, engine, dm)
    with engine.begin() as conn:
        for lk in check_lookups(connector):
            if not lk.indexed:
                conn.exec_driver_sql(lk.fix.rstrip(";"))
        conn.exec_driver_sql("ANALYZE")
    connector.validate()


def databases(tickets: int, seed: int, admin: str | None) -> dict[str, str]:
    """Region -> URL of a seeded help desk: SQLite files cached under ``bench/.cache``, or fresh
    databases ``bench_desk_<region>`` on the PostgreSQL server ``admin``."""
    dm = load_datamap(DATAMAP)
    if admin:
        url = make_url(admin).set(drivername="postgresql+psycopg")
        server = create_engine(url, isolation_level="AUTOCOMMIT")
        urls = {}
        with server.connect() as conn:
            for region in REGIONS:
                name = f"bench_desk_{region}"
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                urls[region] = url.set(database=name).render_as_string(hide_password=False)
        server.dispose()
        for region, u in urls.items():
            _seed(engine_for(u), region, tickets, seed, dm)
        return urls
    folder = CACHE_DIR / f"helpdesk-{tickets}-{seed}"
    urls = {r: f"sqlite:///{(folder / f'{r}.sqlite').resolve()}" for r in REGIONS}
    if (folder / MARKER).is_file():
        return urls
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for region, u in urls.items():
        _seed(engine_for(u), region, tickets, seed, dm)
    (folder / MARKER).write_text(json.dumps({"tickets": tickets, "seed": seed}))
    return urls


def people(urls: dict[str, str], seed: int, want: int) -> list[tuple[str, str]]:
    """(key, e-mail): the planted subject first, then customers drawn from both regions."""
    rng = random.Random(f"{seed}/helpdesk/people")
    out = [("joerg", desk.SUBJECT_EMAIL)]
    for region, url in urls.items():
        with engine_for(url).connect() as conn:
            emails = [r[0] for r in conn.execute(text("SELECT email FROM customers"))]
        for n, email in enumerate(rng.sample(emails, min(len(emails), want // 2 + 1))):
            out.append((f"{region}-{n}", email.strip()))
    return out[:want]


def floor(
    conns: dict[str, Connection], dm: DataMap, people_by_key: dict[str, str], folds: bool
) -> Found:
    """Customers through e-mail and phone (in every region), their tickets by address, orders
    and invoices by customer id, order items by order, and notes that may mention them."""
    found, p = Found(), People(people_by_key, folds)
    countries = {r: spec.phone_country or "US" for r, spec in dm.regions.items()}
    E = email_sql
    dialect = next(iter(conns.values())).dialect.name
    P = phone_sql("phone", dialect)
    while True:
        emails, phones = p.email.fresh(), p.phone.fresh()
        if not emails and not phones:
            break
        for region, conn in conns.items():
            check = lambda r, c=countries[region]: (r.phone, c)  # noqa: E731
            for sql, values, wanted, chk in (
                (f"SELECT *, {E('email')} AS m FROM customers WHERE {E('email')} IN :v",
                 p.email, emails, None),
                (f"SELECT *, {P} AS m FROM customers WHERE {P} IN :v", p.phone, phones, check),
            ):  # fmt: skip
                for row, keys in lookup(conn, sql, values, wanted, check=chk):
                    found.own(keys, region, "customers", row.cust_id)
                    p.ids.add(keys, row.cust_id)
                    p.add_email(keys, row.email)
                    p.add_phone(keys, row.phone, countries[region])
                    p.add_name(keys, row.full_name)
    tickets = dm.tables["tickets"]
    for region, conn in conns.items():
        sql = f"SELECT *, {E('email')} AS m FROM tickets WHERE {E('email')} IN :v"
        for row, keys in lookup(conn, sql, p.email, p.email.all()):
            found.own(keys, region, "tickets", row_key(tickets, row._mapping))
        orders = Values("order_id")
        sql = "SELECT *, cust_id AS m FROM orders WHERE cust_id IN :v"
        for row, keys in lookup(conn, sql, p.ids, p.ids.all()):
            found.own(keys, region, "orders", row.order_id)
            orders.add(keys, row.order_id)
        sql = "SELECT *, order_id AS m FROM order_items WHERE order_id IN :v"
        for row, keys in lookup(conn, sql, orders, orders.all()):
            found.own(keys, region, "order_items", row_key(dm.tables["order_items"], row._mapping))
        sql = "SELECT *, cust_id AS m FROM invoices WHERE cust_id IN :v"
        for row, keys in lookup(conn, sql, p.ids, p.ids.all()):
            found.own(keys, region, "invoices", row.invoice_no)
        mentions(conn, region, found, p, "notes", ("body",), "", {}, key="note_id")
    return found


def for_datamap(dm: DataMap, folds: bool) -> Callable[[dict[str, Connection], Case], Found]:
    return lambda conns, case: floor(conns, dm, case.people, folds)
