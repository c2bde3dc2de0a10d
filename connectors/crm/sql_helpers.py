"""Small SQL helpers shared by the connectors: reflection cache, typed binds, row keys, excerpts.

A row is named by its data-map key (``TableMap.key_columns``) as one string, ``RowRef.pk``:
the value itself for a one-column key, a compact JSON array of the values for a composite key
(``["T-1","bob@example.org"]``). ``key_clause`` turns such strings back into a WHERE clause that
selects exactly those rows, typed per column.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, DateTime, Integer, MetaData, Table, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SAWarning

from connectors.base import Mention, RowRef

if TYPE_CHECKING:
    from sqlalchemy.sql import ColumnElement

    from connectors.crm.datamap import TableMap

EXCERPT_CONTEXT = 60


@cache
def _reflect_cached(url: str, engine: Engine, name: str) -> Table:
    with warnings.catch_warnings():
        # Expression indexes cannot be reflected; discovery only needs the columns.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
        return Table(name, MetaData(), autoload_with=engine)


def reflect_table(engine: Engine, name: str) -> Table:
    # Reflection costs up to 0.9 s per request on PostgreSQL (bench/); every Dagster step builds
    # new connectors, so tables are reflected once per process and database.
    return _reflect_cached(engine.url.render_as_string(hide_password=False), engine, name)


def typed_value(column: Any, value: Any) -> Any:
    """Bind a value with the column's Python type, so PostgreSQL compares integer to integer.

    ``None`` when the value cannot be of the column's type (it then matches no row).
    """
    try:
        if isinstance(column.type, Integer):
            return int(value)
        if isinstance(column.type, DateTime) and isinstance(value, str):
            return datetime.fromisoformat(value)
        if isinstance(column.type, Date) and isinstance(value, str):
            return date.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return value


def _key_part(value: Any) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


def row_key(tmap: TableMap, row: Mapping[str, Any]) -> str:
    """The one string that names a row by its data-map key (see the module docstring)."""
    cols = tmap.key_columns
    if len(cols) == 1:
        return _key_part(row[cols[0]])
    return json.dumps([_key_part(row[c]) for c in cols], ensure_ascii=False, separators=(",", ":"))


def key_parts(tmap: TableMap, pk: str) -> tuple[str, ...]:
    if len(tmap.key_columns) == 1:
        return (pk,)
    parts = json.loads(pk)
    if not isinstance(parts, list) or len(parts) != len(tmap.key_columns):
        raise ValueError(f"row key {pk!r} does not fit the key {list(tmap.key_columns)}")
    return tuple(str(p) for p in parts)


def key_columns(table: Table, tmap: TableMap) -> list[Any]:
    return [table.c[c] for c in tmap.key_columns]


def key_clause(table: Table, tmap: TableMap, pks: Sequence[str]) -> ColumnElement:
    """WHERE clause selecting exactly the rows named by ``pks`` (values that cannot be typed
    for their column match nothing)."""
    cols = key_columns(table, tmap)
    typed: list[tuple[Any, ...]] = []
    for pk in pks:
        values = tuple(typed_value(c, v) for c, v in zip(cols, key_parts(tmap, pk), strict=True))
        if all(v is not None for v in values):
            typed.append(values)
    if len(cols) == 1:
        return cols[0].in_([v[0] for v in typed])
    return tuple_(*cols).in_(typed)


def pk_order(pk: str) -> tuple[int, Any]:
    return (0, int(pk)) if pk.isdigit() else (1, pk)


def mention_of(
    region: str, table: str, pk: str, column: str, text: str, hits: Iterable[tuple]
) -> Mention:
    hits = list(hits)
    start = max(0, hits[0][1] - EXCERPT_CONTEXT)
    end = min(len(text), hits[-1][2] + EXCERPT_CONTEXT)
    excerpt = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return Mention(
        ref=RowRef(region, table, pk),
        column=column,
        kinds=tuple(sorted({h[0].kind for h in hits})),
        spans=tuple((h[1], h[2]) for h in hits),
        excerpt=excerpt,
    )
