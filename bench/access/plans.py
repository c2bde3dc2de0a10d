"""Which index each discovery query uses: EXPLAIN every statement one request really sends.

Statements are captured as they go to the driver, so the plans are those of the SQL production
renders, with its bound values, not of a hand-written look-alike.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event

from bench.access.measure import MeteredConnector, identities_of
from bench.access.phases import Tick, _setup
from bench.subjects import Subject
from connectors.crm.sql import resolve_across

_FROM = re.compile(r"\bFROM\s+(\w+)", re.I)
_WHERE = re.compile(r"\bWHERE\s+(.*)$", re.I | re.S)
# Constants in PostgreSQL plans ('1900000001'::bigint), so one plan shape is listed once.
_LITERAL = re.compile(r"'(?:[^']|'')*'(?:::[\w ]+(?:\[\])?)?")
_PLACEHOLDER = re.compile(r"\?|%\(\w+\)s|%s|__\[POSTCOMPILE_\w+\]")


def _label(sql: str) -> tuple[str, str]:
    """(table, the condition with its values folded), to group one query shape's plans."""
    table = m.group(1) if (m := _FROM.search(sql)) else "?"
    where = m.group(1) if (m := _WHERE.search(sql)) else ""
    where = " ".join(where.split())
    if "LIKE " in where.upper():
        return table, "free-text LIKE pre-filter"
    where = re.sub(r"IN \(([^()]*)\)", "IN (…)", _PLACEHOLDER.sub("?", where))
    return table, where[:90]


def _kind(condition: str) -> str:
    if "lower(trim(" in condition:
        return "e-mail"
    if "replace(" in condition:
        return "phone"
    return "id"


def _explain(conn: Any, dialect: str, sql: str, params: Any) -> tuple[str, bool]:
    if dialect == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
        parts = [str(r[-1]) for r in rows]
        # "SCAN t" reads the whole table (or a whole index); "SEARCH t USING ..." seeks.
        return "; ".join(parts), not any(p.startswith("SCAN") for p in parts)
    rows = conn.exec_driver_sql("EXPLAIN " + sql, params).all()
    lines = [str(r[0]).strip().lstrip("-> ") for r in rows]
    # Scan nodes only, without costs and conditions: which index, or none, is what matters here.
    nodes = [ln.split("  (")[0] for ln in lines if "Scan" in ln and not ln.startswith("Index Cond")]
    detail = "; ".join(n for n in nodes if not n.startswith("Bitmap Heap Scan"))
    return detail, "Index" in detail and "Seq Scan" not in detail


def plans(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    connectors, cast = _setup(spec)
    seen: dict[tuple[str, str, str], tuple[MeteredConnector, str, Any]] = {}

    def capture(conn: Any, _cur: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        if not many and sql.lstrip().upper().startswith("SELECT"):
            owner = next(c for c in connectors if c.engine is conn.engine)
            # Keyed by the values too: a planner may pick another index for a larger tenant.
            seen.setdefault((owner.region, sql, repr(params)), (owner, sql, params))

    cases: list[tuple[str, Subject]] = [
        (scope, s) for scope, ss in cast.singles.items() for s in ss[:3]
    ]
    # Two contacts of the largest tenant, where a tenant index is least selective.
    cases += [("client_data", s) for b in cast.batches if b.client_id for s in b.subjects[:2]]
    for c in connectors:
        event.listen(c.engine, "before_cursor_execute", capture)
    try:
        for i, (scope, s) in enumerate(cases):
            ids = resolve_across(connectors, identities_of([s]), scope=scope, client_id=s.client_id)
            for c in connectors:
                c.find(ids, scope=scope, client_id=s.client_id)
            tick(i + 1, len(cases) + 1, "capturing statements")
    finally:
        for c in connectors:
            event.remove(c.engine, "before_cursor_execute", capture)
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for c, sql, params in seen.values():
        table, condition = _label(sql)
        if (
            table in ("sqlite_master", "sqlite_temp_master")
            or table.startswith("pg_")
            or not table.isidentifier()  # a table-valued pragma (`FROM ?`): reflection too
        ):
            continue  # reflection, not discovery
        with c.engine.connect() as conn:
            detail, indexed = _explain(conn, conn.dialect.name, sql, params)
        kind = _kind(condition) if "_match" in sql else "text"
        if (table, condition) not in grouped:
            with c.engine.connect() as conn:
                size = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
        entry = grouped.setdefault(
            (table, condition),
            {"table": table, "condition": condition, "kind": kind, "plans": set(),
             "indexed": True, "table_rows": size},
        )  # fmt: skip
        entry["plans"].add(_LITERAL.sub("…", detail))
        entry["indexed"] = entry["indexed"] and indexed
    tick(len(cases) + 1, len(cases) + 1, "explained")
    ordered = sorted(grouped.values(), key=lambda e: (e["kind"], e["table"], e["condition"]))
    return {"statements": [{**e, "plans": sorted(e["plans"])} for e in ordered]}
