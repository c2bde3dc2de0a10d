"""Small SQL helpers shared by the connectors: reflection cache, typed binds, excerpts."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import Integer, MetaData, Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SAWarning

from connectors.base import Mention, RowRef

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
    """Bind a value with the column's Python type, so PostgreSQL compares integer to integer."""
    if isinstance(column.type, Integer):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    return value


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
