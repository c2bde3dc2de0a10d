"""Ledgers made by an earlier version: widen the CHECK lists of request types and channels.

A CHECK constraint's list is fixed when the table is created, so a ledger created before a new
request type (``restriction``) or channel (``schedule``) would refuse it. Widening a list never
makes a stored row invalid, so it is done in place, inside the schema transaction: PostgreSQL
drops and re-adds the constraint; SQLite rewrites the table's stored definition (its documented
``writable_schema`` procedure for changes that leave the on-disk format alone) and then checks
the database's integrity before the transaction commits.
"""

from __future__ import annotations

import re

from sqlalchemy import CheckConstraint, Connection, bindparam, text
from sqlalchemy.schema import AddConstraint, CreateTable, DropConstraint

from dsr.ledger.schema import requests

# The lists that grow with the product; the others (scope, state) are widened the same way.
_LISTS = ("ck_requests_type", "ck_requests_scope", "ck_requests_state", "ck_requests_channel")
_MASTER = text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'requests'")
_PG_DEF = text(
    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conname = :name AND conrelid = 'requests'::regclass"
)


def _checks() -> dict[str, CheckConstraint]:
    return {
        c.name: c
        for c in requests.constraints
        if isinstance(c, CheckConstraint) and isinstance(c.name, str) and c.name in _LISTS
    }


def _values(constraint: CheckConstraint) -> list[str]:
    return re.findall(r"'([^']*)'", str(constraint.sqltext))


def _missing(definition: str, constraint: CheckConstraint) -> bool:
    return any(f"'{v}'" not in definition for v in _values(constraint))


def _clause(sql: str, name: str) -> str | None:
    found = re.search(rf"CONSTRAINT {name} CHECK \((?:[^()]|\([^()]*\))*\)", sql)
    return found.group(0) if found else None


def widen_checks(conn: Connection) -> list[str]:
    """Bring the request table's value lists up to this version; the names of those widened."""
    if conn.dialect.name == "postgresql":
        return _widen_postgres(conn)
    if conn.dialect.name == "sqlite":
        return _widen_sqlite(conn)
    return []


def _widen_postgres(conn: Connection) -> list[str]:
    widened = []
    for name, constraint in _checks().items():
        definition = conn.execute(_PG_DEF, {"name": name}).scalar()
        if definition is None or _missing(definition, constraint):
            if definition is not None:
                conn.execute(DropConstraint(constraint))
            conn.execute(AddConstraint(constraint))
            widened.append(name)
    return widened


def _widen_sqlite(conn: Connection) -> list[str]:
    stored = conn.execute(_MASTER).scalar()
    if stored is None:
        return []
    wanted = str(CreateTable(requests).compile(dialect=conn.dialect))
    sql, widened = stored, []
    for name, constraint in _checks().items():
        old, new = _clause(sql, name), _clause(wanted, name)
        if old and new and _missing(old, constraint):
            sql = sql.replace(old, new)
            widened.append(name)
    if not widened:
        return []
    version = int(conn.exec_driver_sql("PRAGMA schema_version").scalar_one())
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        update = text(
            "UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'requests'"
        ).bindparams(bindparam("sql"))
        conn.execute(update, {"sql": sql})
        # The new version tells every other connection to re-read the schema.
        conn.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    finally:
        conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    check = conn.exec_driver_sql("PRAGMA quick_check").scalar_one()
    if check != "ok":
        raise RuntimeError(f"the ledger failed its integrity check after widening: {check}")
    return widened


__all__ = ["widen_checks"]
