"""The SQL side of identity matching: one expression per kind, the same in queries and indexes.

A lookup compares ``match_expression(kind, column)`` with the candidate keys of
``connectors.identities.match_values``; an expression index on exactly this expression serves it
(``index_ddl`` prints one). What a candidate row really holds is decided afterwards in Python
(``connectors.identities.same_identity``), so the expression only has to be generous and stable:

* e-mail: ``lower(trim(col))``;
* phone: lower-cased, separators and a ``tel:`` scheme removed, and cut before an extension
  (``x``, ``ext``, ``#``, ``;ext=``, ``,``), leaving the digits of the number itself.

Literals are rendered inline, not bound: SQLite uses an expression index only for an identical
expression. ``position`` renders as ``instr`` on SQLite and ``strpos`` on PostgreSQL.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Integer, Table, func, literal, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from connectors.base import EMAIL, PHONE

# Past this many LIKE clauses (search terms x free-text columns) a SQL pre-filter costs more than
# streaming the text through MentionMatcher (bench/: break-even 27-48 terms on one column), and
# SQLite refuses expressions deeper than 1000 from about 330 clauses.
PREFILTER_MAX_CLAUSES = 72
_PHONE_SEPARATORS = (" ", "-", "(", ")", ".", "+", "/", "tel:")
_EXTENSION_MARKS = ("ext", "#", ";", ",")
_CUT = "x"


class position(FunctionElement):
    """1-based position of the second argument in the first, 0 when absent."""

    type = Integer()
    inherit_cache = True


@compiles(position)
def _position_default(element: position, compiler: Any, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(position, "postgresql")
def _position_pg(element: position, compiler: Any, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


def _lit(value: str | int) -> ColumnElement:
    return literal(value, literal_execute=True)


def match_expression(kind: str, column: ColumnElement) -> ColumnElement:
    """The SQL expression a column is compared through; expression indexes use the same one."""
    if kind == EMAIL:
        return func.lower(func.trim(column))
    if kind == PHONE:
        expr: ColumnElement = func.lower(column)
        for sep in _PHONE_SEPARATORS:
            expr = func.replace(expr, _lit(sep), _lit(""))
        for mark in _EXTENSION_MARKS:
            expr = func.replace(expr, _lit(mark), _lit(_CUT))
        # Everything before the first extension mark ("x" after the replacements above).
        # The numbers are literals too: bound, they made the query's expression differ from the
        # index's, and SQLite read every row (users and invoices: 21 ms of a 54 ms discovery).
        return func.substr(expr, _lit(1), position(expr.concat(_lit(_CUT)), _lit(_CUT)) - _lit(1))
    return column


def needs_expression_index(kind: str) -> bool:
    return kind in (EMAIL, PHONE)


_CAPITALS = "ÀÉÖÜÇÅ"


@cache
def _folds(url: str, engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(func.lower(literal(_CAPITALS)))).scalar() == _CAPITALS.lower()


def folds_unicode(engine: Engine) -> bool:
    """Whether the database's lower() folds non-ASCII capitals (PostgreSQL with a Unicode
    ctype) or only ASCII ones (SQLite, the C locale); asked once per process and database."""
    return _folds(engine.url.render_as_string(hide_password=False), engine)


def mention_prefilter(
    table: Table, columns: tuple[str, ...], terms: list[str] | None
) -> ColumnElement | None:
    """A WHERE clause every text mentioning someone passes (case-insensitive LIKE on ASCII
    terms, ``MentionMatcher.prefilter_terms``), or None where reading every text is cheaper or
    no term is safe to filter on."""
    if terms is None or len(terms) * len(columns) > PREFILTER_MAX_CLAUSES:
        return None
    return or_(*(table.c[c].icontains(t, autoescape=True) for c in columns for t in terms))
