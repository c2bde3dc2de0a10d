"""Seed a synthetic iNextCRM region: deterministic, vectorised, fast enough for a million contacts.

Same ``(region, contacts, seed)`` gives the same rows, byte for byte: each table chunk draws from
its own generator keyed by (seed, region, table, chunk), and Faker is consulted only once per
region for the value pools. Tables load in foreign-key order, one transaction per table; indexes
are built afterwards. SQLite loads through SQLAlchemy Core ``executemany``; PostgreSQL through
``COPY`` on the same connection, from exactly the same generated columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection, Engine

from dsr.democrm import gen_accounts as acc
from dsr.democrm import gen_crm as crm
from dsr.democrm.gen_crm import Columns
from dsr.democrm.schema import clients, create_indexes, create_schema, metadata, sync_sequences
from dsr.democrm.world import CHUNK, World, rng_for

Progress = Callable[[str, int, int], None]
# Below this every tenant could not get a contact of its own.
MIN_CONTACTS = 10
Generate = Callable[[World, np.random.Generator, int, int], Columns]


@dataclass(frozen=True)
class TablePlan:
    name: str
    rows: Callable[[World], int]
    generate: Generate


def _subscriptions(w: World) -> int:
    return acc.subscriber_users(w) + w.sizes.guests - w.sizes.guests // 2


# Foreign-key order. The position of a table in this tuple keys its random streams: append new
# tables at the end, or every later table's data changes.
PLAN: tuple[TablePlan, ...] = (
    TablePlan("clients", lambda w: w.sizes.clients, acc.clients),
    TablePlan("users", lambda w: w.sizes.users, acc.users),
    TablePlan("companies", lambda w: w.sizes.companies, crm.companies),
    TablePlan("contacts", lambda w: w.sizes.contacts, crm.contacts),
    TablePlan("deals", lambda w: w.sizes.contacts * 3 // 10, crm.deals),
    TablePlan("activities", lambda w: 2 * w.sizes.contacts, crm.activities),
    TablePlan("notes", lambda w: w.sizes.contacts, crm.notes),
    TablePlan("emails", lambda w: w.sizes.contacts, crm.emails),
    TablePlan("attachments", lambda w: w.sizes.contacts // 20, crm.attachments),
    TablePlan("meetings", lambda w: w.sizes.meetings, crm.meetings),
    TablePlan("meeting_attendees", lambda w: 3 * w.sizes.meetings, crm.meeting_attendees),
    TablePlan("invoices", lambda w: 12 * w.sizes.clients, acc.invoices),
    TablePlan("payment_methods", lambda w: w.sizes.clients, acc.payment_methods),
    TablePlan("marketing_subscriptions", _subscriptions, acc.marketing_subscriptions),
    TablePlan("support_tickets", lambda w: max(1, w.sizes.users // 5), acc.support_tickets),
    TablePlan("visitor_analytics", lambda w: sum(acc.visitor_counts(w)), acc.visitor_analytics),
    # No "integrations": only the planted Clients connect services (see World).
)


def generate(
    region: str, contacts: int, seed: int = 42
) -> Iterator[tuple[TablePlan, int, Columns]]:
    """Every chunk of every table, in load order: (plan, total rows of the table, columns)."""
    world = World(region, contacts, seed)
    for number, plan in enumerate(PLAN, start=1):
        total = plan.rows(world)
        for chunk, lo in enumerate(range(0, total, CHUNK)):
            rng = rng_for(seed, region, number, chunk)
            yield plan, total, plan.generate(world, rng, lo, min(total, lo + CHUNK))


def seed(
    engine: Engine,
    *,
    region: str,
    contacts: int,
    seed: int = 42,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Create the schema and fill it with a synthetic CRM; returns rows per table."""
    if contacts < MIN_CONTACTS:
        raise ValueError(f"contacts must be at least {MIN_CONTACTS}, got {contacts}")
    World(region, 1, seed)  # an unknown region fails here, before anything is written
    create_schema(engine)
    counts: dict[str, int] = {plan.name: 0 for plan in PLAN}
    with engine.connect() as conn, _bulk_mode(conn):
        if conn.execute(select(func.count()).select_from(clients)).scalar():
            raise ValueError(
                f"region {region!r}: the database already holds CRM data; seed an empty one "
                "(drop the tables with dsr.democrm.schema.metadata.drop_all first)"
            )
        load = _copy if conn.dialect.name == "postgresql" else _executemany
        current: str | None = None
        for plan, total, columns in generate(region, contacts, seed):
            if plan.name != current:
                if current is not None:
                    conn.commit()
                current = plan.name
            table = metadata.tables[plan.name]
            load(conn, table, columns)
            counts[plan.name] += len(columns["id"])
            if progress:
                progress(plan.name, counts[plan.name], total)
        conn.commit()
        for plan in PLAN:
            if progress and counts[plan.name] == 0:
                progress(plan.name, 0, 0)
        create_indexes(conn)
        sync_sequences(conn)
        conn.commit()
    return counts


def _executemany(conn: Connection, table: Table, columns: Columns) -> None:
    """One ``executemany`` per chunk, values converted column-wise by the types' own processors.

    Same stored values as ``conn.execute(table.insert(), rows)``, about three times faster: the
    per-row dictionaries and parameter assembly cost more than the inserts themselves.
    """
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    values = []
    for name, column in columns.items():
        process = table.c[name].type.bind_processor(dialect)
        values.append([process(v) for v in column] if process else column)
    marks = ", ".join("?" if dialect.paramstyle == "qmark" else "%s" for _ in columns)
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES ({marks})"
    conn.exec_driver_sql(sql, list(zip(*values, strict=True)))


def _copy(conn: Connection, table: Table, columns: Columns) -> None:
    names = ", ".join(columns)
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in zip(*columns.values(), strict=True):
            copy.write_row(row)


@contextmanager
def _bulk_mode(conn: Connection) -> Iterator[None]:
    """SQLite: no fsync and a large page cache while loading; restored afterwards."""
    if conn.dialect.name != "sqlite":
        yield
        return
    sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    conn.exec_driver_sql("PRAGMA synchronous=OFF")
    conn.exec_driver_sql("PRAGMA cache_size=-262144")
    conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
    conn.commit()
    try:
        yield
    finally:
        conn.rollback()
        conn.exec_driver_sql(f"PRAGMA synchronous={int(sync or 2)}")
        conn.exec_driver_sql(f"PRAGMA cache_size={int(cache or -2000)}")
        conn.exec_driver_sql("PRAGMA temp_store=DEFAULT")
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.commit()
