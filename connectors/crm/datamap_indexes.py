"""Will each lookup discovery issues use an index? Ask the database, do not assume.

A lookup through ``lower(trim(email))`` on a column with only a plain index is a full scan: on a
million rows that is seconds per request where an expression index answers in milliseconds, and
nothing else would say so. For every identity column a request searches and every column a
reference is followed along, ``check_lookups`` builds the statement the connector really sends
(``connectors.crm.match_sql`` for the expression, a bound ``IN`` list) and asks the planner:

* SQLite: ``EXPLAIN QUERY PLAN`` — ``SEARCH … USING INDEX`` seeks, ``SCAN`` reads everything;
* PostgreSQL: ``EXPLAIN (FORMAT JSON)`` with ``enable_seqscan`` off for the one statement, so a
  small table's cheap sequential scan does not hide whether an index *could* be used.

A lookup that would scan comes with the ``CREATE INDEX`` statement that fixes it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, Table, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateIndex

from connectors.crm.match_sql import match_expression, needs_expression_index
from connectors.crm.sql import CrmSqlConnector

_SAMPLES = ("a@example.org", "b@example.org")
_PG_NAME_LIMIT = 63


@dataclass(frozen=True)
class Lookup:
    region: str
    table: str
    column: str
    why: str  # "identity (email)", "reference from notes", ...
    indexed: bool
    plan: str  # the planner's own words, shortened
    fix: str  # CREATE INDEX statement ("" when indexed)

    @property
    def label(self) -> str:
        return f"{self.region}:{self.table}.{self.column}"


def _lookups(connector: CrmSqlConnector) -> Iterator[tuple[str, str, str, str]]:
    """(table, column, identity kind or "", why) for every lookup discovery sends."""
    dm = connector.datamap
    seen: set[tuple[str, str, str]] = set()
    for name in dm.traversal_order():
        for ident in dm.tables[name].identities:
            if ident.matches and ident.column:
                kind = ident.kind if needs_expression_index(ident.kind) else ""
                if (name, ident.column, kind) not in seen:
                    seen.add((name, ident.column, kind))
                    yield name, ident.column, kind, f"identity ({ident.kind})"
    for owner, ref in dm.child_references():
        if ref.direction == "child":
            table, col, why = owner, ref.column, f"reference to {ref.target_table}"
        else:
            table, col, why = ref.target_table, ref.target_column, f"reference from {owner}"
        if (table, col, "") not in seen:
            seen.add((table, col, ""))
            yield table, col, "", why


def _sqlite_schema_copy(conn: Connection) -> sqlite3.Connection:
    """An empty in-memory copy of the schema (tables and indexes, no rows, no statistics).

    SQLite has no switch like ``enable_seqscan``: with statistics saying a table is small it
    rightly scans it, which says nothing about the day it is large. Without statistics it uses
    any index that can serve the statement.
    """
    copy = sqlite3.connect(":memory:")
    rows = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index') "
        "AND name NOT LIKE 'sqlite_%' ORDER BY type DESC"
    ).all()
    for (ddl,) in rows:
        copy.execute(ddl)
    return copy


def _explain(conn: Connection | sqlite3.Connection, sql: str, table: str) -> tuple[bool, str]:
    if isinstance(conn, sqlite3.Connection):
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        steps = [str(r[-1]) for r in rows]
        return not any(s.startswith("SCAN") for s in steps), "; ".join(steps)
    with conn.begin():
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        (raw,) = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql).one()
    plan = json.loads(raw) if isinstance(raw, str) else raw
    nodes = list(_nodes(plan[0]["Plan"]))
    scans = [n for n in nodes if n.get("Relation Name") == table]
    seq = any(n["Node Type"] == "Seq Scan" for n in scans)
    words = "; ".join(
        f"{n['Node Type']}" + (f" using {n['Index Name']}" if n.get("Index Name") else "")
        for n in nodes
        if "Scan" in n["Node Type"]
    )
    return not seq, words


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _statement(connector: CrmSqlConnector, table: Table, column: str, kind: str) -> str:
    col = table.c[column]
    expr = match_expression(kind, col) if kind else col
    samples: list[Any] = [1, 2] if isinstance(col.type, Integer) else list(_SAMPLES)
    query = select(table).where(expr.in_(samples))
    compiled = query.compile(
        dialect=connector.engine.dialect, compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def index_ddl(engine: Engine, table: Table, column: str, kind: str) -> str:
    """The statement that creates the index a lookup needs (on a copy: the table is untouched)."""
    copy = Table(table.name, MetaData(), *(Column(c.name, c.type) for c in table.c))
    col = copy.c[column]
    expr = match_expression(kind, col) if kind else col
    name = f"ix_{table.name}_{column}" + ("_match" if kind else "")
    index = Index(name[:_PG_NAME_LIMIT], expr)
    return str(CreateIndex(index).compile(dialect=engine.dialect)).strip() + ";"


def check_lookups(connector: CrmSqlConnector) -> list[Lookup]:
    """Every lookup of this database with whether the planner would use an index for it."""
    out: list[Lookup] = []
    with connector.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        asked = _sqlite_schema_copy(conn) if sqlite else conn
        try:
            for name, column, kind, why in _lookups(connector):
                table = connector.table(name)
                sql = _statement(connector, table, column, kind)
                indexed, plan = _explain(asked, sql, name)
                fix = "" if indexed else index_ddl(connector.engine, table, column, kind)
                out.append(Lookup(connector.region, name, column, why, indexed, plan[:200], fix))
        finally:
            if isinstance(asked, sqlite3.Connection):
                asked.close()
    return out


_ASKED: dict[tuple[str, str], tuple[str, ...]] = {}


def unindexed_lookups(connector: CrmSqlConnector) -> tuple[str, ...]:
    """``region:table.column`` of each lookup that would scan; asked once per process and
    database (a request's metadata repeats the warning without asking again)."""
    key = (
        connector.engine.url.render_as_string(hide_password=False),
        connector.datamap.source_path,
    )
    if key not in _ASKED:
        _ASKED[key] = tuple(lk.label for lk in check_lookups(connector) if not lk.indexed)
    return _ASKED[key]
