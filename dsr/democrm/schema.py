"""The demo CRM's schema put into a database: the tables (declared in ``dsr.democrm.tables`` and
importable from here too), created without their indexes, the indexes after a bulk load, and
PostgreSQL's sequences after rows inserted with explicit ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateIndex, CreateTable

from dsr.democrm.tables import (
    EMAIL_LEN,
    ID,
    IDENTITY_COLUMNS,
    REFERENCE_COLUMNS,
    activities,
    attachments,
    clients,
    companies,
    contacts,
    deals,
    emails,
    integrations,
    invoices,
    marketing_subscriptions,
    meeting_attendees,
    meetings,
    metadata,
    notes,
    payment_methods,
    support_tickets,
    users,
    visitor_analytics,
)

__all__ = [
    "EMAIL_LEN",
    "ID",
    "IDENTITY_COLUMNS",
    "REFERENCE_COLUMNS",
    "activities",
    "attachments",
    "clients",
    "companies",
    "contacts",
    "create_indexes",
    "create_schema",
    "deals",
    "emails",
    "integrations",
    "invoices",
    "marketing_subscriptions",
    "meeting_attendees",
    "meetings",
    "metadata",
    "notes",
    "payment_methods",
    "support_tickets",
    "sync_sequences",
    "users",
    "visitor_analytics",
]


@contextmanager
def _transaction(bind: Engine | Connection) -> Iterator[Connection]:
    """A transaction of its own on an engine; on a connection, the caller's (who commits)."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    else:
        yield bind


def create_schema(bind: Engine | Connection) -> None:
    """Create the tables that do not exist yet, without their indexes (see ``create_indexes``)."""
    with _transaction(bind) as conn:
        existing = set(inspect(conn).get_table_names())
        for table in metadata.sorted_tables:
            if table.name not in existing:
                conn.execute(CreateTable(table))
        _add_missing_columns(conn, existing)


def _add_missing_columns(conn: Connection, existing: set[str]) -> None:
    # A CRM seeded before a nullable column was added gets it, so the data map fits again.
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for col in table.columns:
            if col.name not in present and col.nullable:
                kind = col.type.compile(dialect=conn.dialect)
                # Names from our own metadata, not input: safe in DDL.
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {col.name} {kind}")


def create_indexes(bind: Engine | Connection) -> None:
    """Create every declared index that is missing; safe to call again."""
    with _transaction(bind) as conn:
        for table in metadata.sorted_tables:
            # IF NOT EXISTS, not reflection: SQLAlchemy cannot reflect SQLite expression indexes.
            for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
                conn.execute(CreateIndex(index, if_not_exists=True))
        # Fresh statistics, so the planner picks the expression indexes on the first request.
        conn.exec_driver_sql("ANALYZE")


def sync_sequences(conn: Connection) -> None:
    """After rows were inserted with explicit ids, make PostgreSQL's next id follow the largest."""
    if conn.dialect.name != "postgresql":
        return  # SQLite's rowid allocation already follows max(id)
    for table in metadata.sorted_tables:
        conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:t, 'id'), "
                f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"
            ),
            {"t": table.name},
        )
