"""Which index each discovery query uses: EXPLAIN every statement one request really sends.

Statements are captured as they go to the driver, so the plans are those of the SQL production
renders, with its bound values, not of a hand-written look-alike.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event

from bench.measure import identities_of, MeteredConnector
from bench.phases import Tick, _setup
from bench.subjects import Subject
from connectors.crm_sql import resolve_across

_FROM = re.compile(r"\bFROM\s+(\w+)", re.I)
_WHERE = re.compile(r"\bWHERE\s+(.*)$", re.I | re.S)
_PLACEHOLDER = re.compile(r"\?|%\(\w+\)s|%s|__\[POSTCOMPILE_\w+\]")


def _label(sql: str) -> tuple[str, str]:
    """(table, the condition with its values folded), to group one query shape's plans."""
    table = m.group(1) if (m := _FROM.search(sql)) else "?"
    where = m.group(1) if (m := _WHERE.search(sql)) else ""
    where = " ".join(where.split())
    if " LIKE " in where.upper():
        return table, "free-text LIKE pre-filter"
    where = re.sub(r"IN \(([^()]*)\)", "IN (…)", _PLACEHOLDER.sub("?", where))
    return table, where[:90]


def _kind(condition: str) -> str:
    if "lower(trim(" in condition:
        return "e-mail"
    if "replace(" in condition:
        return "phone"
    if "LIKE" in condition:
        return "text"
    return "id"


def _explain(conn: Any, dialect: str, sql: str, params: Any) -> tuple[str, bool]:
    if dialect == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
        detail = "; ".join(str(r[-1]) for r in rows)
        return detail, "USING" in detail and "INDEX" in detail or "PRIMARY KEY" in detail
    rows = conn.exec_driver_sql("EXPLAIN " + sql, params).all()
    lines = [str(r[0]).strip() for r in rows]
    nodes = [ln.lstrip("-> ").split("  (")[0] for ln in lines if "Scan" in ln or "Index" in ln]
    detail = "; ".join(nodes)
    return detail, "Index" in detail and "Seq Scan" not in detail


def plans(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    connectors, cast = _setup(spec)
    seen: dict[tuple[str, str], tuple[MeteredConnector, str, Any]] = {}

    def capture(conn: Any, _cur: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        if not many and sql.lstrip().upper().startswith("SELECT"):
            owner = next(c for c in connectors if c.engine is conn.engine)
            seen.setdefault((owner.region, sql), (owner, sql, params))

    cases: list[tuple[str, Subject]] = [
        (scope, s) for scope, ss in cast.singles.items() for s in ss[:3]
    ]
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
    for (region, sql), (c, _, params) in seen.items():
        table, condition = _label(sql)
        if table in ("sqlite_master", "sqlite_temp_master") or table.startswith("pg_"):
            continue  # reflection, not discovery
        with c.engine.connect() as conn:
            detail, indexed = _explain(conn, conn.dialect.name, sql, params)
        entry = grouped.setdefault(
            (table, condition),
            {"table": table, "condition": condition, "kind": _kind(condition), "plans": set()},
        )
        entry["plans"].add((region, detail, indexed))
    tick(len(cases) + 1, len(cases) + 1, "explained")
    rows = []
    for entry in sorted(grouped.values(), key=lambda e: (e["kind"], e["table"], e["condition"])):
        details = sorted({d for _, d, _ in entry.pop("plans")} if False else entry["plans"])
        rows.append(
            {
                **{k: v for k, v in entry.items() if k != "plans"},
                "indexed": all(ix for _, _, ix in details),
                "plan": " | ".join(sorted({d for _, d, _ in details})),
            }
        )
    return {"statements": rows}
