"""The pieces a hand-written discovery query is built from: the floor ``python -m bench floor``
compares discovery with.

The SQL is written out by hand in ``bench.floor.crm`` and ``bench.floor.desk``; this module only
holds what every such statement shares: the two match expressions, spelt exactly as the expression
indexes spell them (SQLite uses an expression index only for an identical expression, so a
DBA writing the floor would copy them), the running of a ``text()`` statement with bound
``IN`` lists, and the attribution of each row to the people whose value it matched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Row

from connectors.identities import harvest_identity, match_values, same_identity

Place = tuple[str, str, str]  # (region, table, primary key as discovery's RowRef spells it)

# Twelve replace() calls: eight separators removed, four extension marks turned into 'x'.
_PHONE_CUTS = "replace(" * 12
_PHONE_ARGS = (
    ", ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '+', ''), '/', ''), 'tel:', '')"
    ", 'ext', 'x'), '#', 'x'), ';', 'x'), ',', 'x')"
)


def email_sql(column: str) -> str:
    """The e-mail expression of the ``*_norm`` indexes."""
    return f"lower(trim({column}))"


def phone_sql(column: str, dialect: str) -> str:
    """The phone expression of the ``*_digits`` indexes: digits up to an extension mark."""
    cleaned = f"{_PHONE_CUTS}lower({column}){_PHONE_ARGS}"
    position = "strpos" if dialect == "postgresql" else "instr"
    return f"substr({cleaned}, 1, {position}({cleaned} || 'x', 'x') - 1)"


def run(conn: Connection, sql: str, params: dict[str, Any]) -> list[Row]:
    """One statement; list-valued parameters are bound as expanding ``IN`` lists."""
    lists = [bindparam(k, expanding=True) for k, v in params.items() if isinstance(v, list)]
    return list(conn.execute(text(sql).bindparams(*lists), params))


@dataclass
class Values:
    """One kind of identity of many people: each searched value and whose it is."""

    kind: str
    owners: dict[Any, set[str]] = field(default_factory=lambda: defaultdict(set))
    # For phones: the identity behind each searched key, to check a row really holds it.
    identities: dict[Any, set[Any]] = field(default_factory=lambda: defaultdict(set))
    sent: set[Any] = field(default_factory=set)

    def add_identity(self, keys: set[str], ident: Any, *, folds_unicode: bool = False) -> None:
        for value in match_values(ident, folds_unicode=folds_unicode):
            self.owners[value] |= keys
            self.identities[value].add(ident)

    def harvest(self, keys: set[str], raw: Any, country: str = "US") -> None:
        ident = harvest_identity(self.kind, raw, country) if raw is not None else None
        if ident is not None:
            self.add_identity(keys, ident)

    def add(self, keys: set[str], value: Any) -> None:
        if value is not None:
            self.owners[value] |= keys

    def fresh(self) -> list[Any]:
        """Values not searched yet (and now marked searched): the next ``IN`` list."""
        new = [v for v in self.owners if v not in self.sent]
        self.sent.update(new)
        return new

    def all(self) -> list[Any]:
        return list(self.owners)


def lookup(
    conn: Connection,
    sql: str,
    values: Values,
    wanted: list[Any],
    params: dict[str, Any] | None = None,
    check: Callable[[Row], tuple[Any, str]] | None = None,
) -> Iterator[tuple[Row, set[str]]]:
    """Rows of ``sql`` (``... AS m ... IN :v``) with the people each belongs to; none sent when
    there is nothing to look for. ``check`` gives (stored phone, row country) for rows whose match
    must be confirmed: the phone expression keeps only digits, so it is generous by design."""
    if not wanted:
        return
    for row in run(conn, sql, {"v": wanted, **(params or {})}):
        keys = values.owners.get(row.m, set())
        if check is not None:
            stored, country = check(row)
            ids = values.identities.get(row.m, set())
            if not any(same_identity(i, stored, country) for i in ids):
                continue
        if keys:
            yield row, keys


@dataclass
class Found:
    """What the floor found: each person's own rows, and rows whose text may mention them."""

    rows: dict[str, set[Place]] = field(default_factory=lambda: defaultdict(set))
    mention_candidates: set[Place] = field(default_factory=set)

    def own(self, keys: set[str], region: str, table: str, pk: Any) -> None:
        for key in keys:
            self.rows[key].add((region, table, str(pk)))


def like_terms(terms: set[str]) -> list[str]:
    """``%term%`` patterns for ``lower(col) LIKE :t ESCAPE '/'``, as a DBA escapes them."""
    out = []
    for term in sorted(terms):
        escaped = term.lower().replace("/", "//").replace("%", "/%").replace("_", "/_")
        out.append(f"%{escaped}%")
    return out
