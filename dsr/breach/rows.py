"""The rows of a breached table that existed in the window, and whom each one is about.

A row counts when it was recorded (the table's ``recorded_at`` column in the data map) before the
window's end, or when its time is unknown (a NULL, or a table with no such column): a row that
still exists and came to be before the end existed during the window. Rows deleted since exist
only in backups; see ``dsr.breach.model``.

Whom a row is about, read from the data map and nothing else:

- its own identity columns (every kind, matched or not: a billing address is exposed even if it
  is a shared mailbox), names kept apart because they never tell two people apart;
- the row it belongs to, through ``references`` (a note's contact, an attachment's e-mail's
  contact), followed upwards until a table with identity columns answers;
- e-mail addresses and phone numbers written in its free text (``mentioned``): the breach
  exposed them too, though the row is someone else's record.

Values are read in bound queries only; table and column names come from the data map.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import Date, DateTime, or_, select
from sqlalchemy.sql import ColumnElement

from connectors.base import EMAIL, NAME, PHONE, Identity
from connectors.crm.datamap import DataMapError, IdentityColumn, TableMap
from connectors.crm.sql import CrmSqlConnector
from connectors.crm.sql_helpers import row_key, typed_value
from connectors.identities import _EMAIL_IN_TEXT, _PHONE_IN_TEXT, harvest_identity

_CHUNK = 500
_YIELD_PER = 5000
# (kind, raw value, default phone region) -> the identity, or None; ``harvest_identity`` or a
# run's cache of it (``dsr.breach.identities``).
Normalise = Callable[[str, Any, str], Identity | None]
# References are acyclic (the data map refuses cycles); this only bounds a pathological map.
_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Seeds:
    """What identifies a row's person: matchable identities, and names for display only."""

    ids: frozenset[Identity] = frozenset()
    names: frozenset[Identity] = frozenset()

    def __or__(self, other: Seeds) -> Seeds:
        return Seeds(self.ids | other.ids, self.names | other.names)

    def __bool__(self) -> bool:
        return bool(self.ids)


@dataclass(slots=True)
class WindowRow:
    region: str
    table: str
    key: Any  # the primary key, as the database returned it
    tenant: str | None
    own: Seeds
    mentioned: frozenset[Identity] = field(default_factory=frozenset)


@dataclass(frozen=True)
class _OwnerLink:
    """Rows of ``table`` whose ``key`` equals this row's ``local`` column own this row."""

    local: str
    table: str
    key: str


def owner_links(connector: CrmSqlConnector, name: str) -> list[_OwnerLink]:
    links = []
    for owner_table, ref in connector.datamap.child_references():
        if owner_table == name and ref.direction == "child":
            links.append(_OwnerLink(ref.column, ref.target_table, ref.target_column))
        elif ref.target_table == name and ref.direction == "parent":
            links.append(_OwnerLink(ref.target_column, owner_table, ref.column))
    return links


def window_clause(connector: CrmSqlConnector, name: str, until: datetime) -> ColumnElement | None:
    """``recorded_at`` before ``until`` (exclusive, aware UTC), or unknown; None: no column."""
    tmap = connector.datamap.tables[name]
    if not tmap.recorded_at:
        return None
    column = connector.table(name).c[tmap.recorded_at]
    if isinstance(column.type, DateTime):
        bound = until if column.type.timezone else until.replace(tzinfo=None)
        return or_(column < bound, column.is_(None))
    if isinstance(column.type, Date):
        # A day that began before the window's end was (partly) inside it.
        last_day = (until - timedelta(microseconds=1)).date()
        return or_(column <= last_day, column.is_(None))
    raise DataMapError(
        f"{connector.datamap.source_path}: table {name!r}, recorded_at column "
        f"{tmap.recorded_at!r} is {column.type}, not a date or timestamp"
    )


def mentioned_in(
    text: Any, phone_region: str, normalise: Normalise = harvest_identity
) -> frozenset[Identity]:
    """E-mail addresses and phones written in a free text, as the backup index reads them."""
    if not isinstance(text, str) or not text:
        return frozenset()
    found = set()
    if "@" in text:
        found |= {
            normalise(EMAIL, m.group(0).strip("."), phone_region)
            for m in _EMAIL_IN_TEXT.finditer(text)
        }
    found |= {normalise(PHONE, m.group(0), phone_region) for m in _PHONE_IN_TEXT.finditer(text)}
    found.discard(None)
    return frozenset(found)  # type: ignore[arg-type]


def _identity_seeds(
    tmap: TableMap, row: dict, phone_region: str, normalise: Normalise = harvest_identity
) -> Seeds:
    ids: set[Identity] = set()
    names: set[Identity] = set()
    for spec in tmap.identities:
        ident = _column_identity(spec, row, phone_region, normalise)
        if ident is not None:
            (names if spec.kind == NAME else ids).add(ident)
    return Seeds(frozenset(ids), frozenset(names))


def _column_identity(
    spec: IdentityColumn, row: dict, phone_region: str, normalise: Normalise
) -> Identity | None:
    parts = [row.get(c) for c in spec.source_columns]
    # Joined as discovery harvests a name, so the report spells it as a request would.
    raw = " ".join(str(p) for p in parts if p) if spec.kind == NAME else parts[0]
    return normalise(spec.kind, raw, phone_region)


def _columns_needed(connector: CrmSqlConnector, name: str) -> list[str]:
    tmap = connector.datamap.tables[name]
    cols = [*tmap.key_columns, *connector.countries.row_columns(name)]
    if tmap.tenant_column:
        cols.append(tmap.tenant_column)
    cols += [c for spec in tmap.identities for c in spec.source_columns]
    cols += [link.local for link in owner_links(connector, name)]
    cols += list(tmap.free_text)
    return list(dict.fromkeys(cols))


Known = dict[tuple[str, Any], Seeds]


def owner_tables(connector: CrmSqlConnector) -> set[str]:
    """Tables whose rows others belong to by primary key (a note's contact)."""
    dm = connector.datamap
    return {
        ref.target_table
        for _, ref in dm.child_references()
        if ref.direction == "child" and ref.target_column == dm.tables[ref.target_table].primary_key
    }


def rows_in_window(
    connector: CrmSqlConnector,
    name: str,
    until: datetime,
    known: Known | None = None,
    normalise: Normalise = harvest_identity,
) -> Iterator[WindowRow]:
    """Every row of ``name`` present before ``until``, with whom it is about.

    ``known`` carries the seeds of rows already read in this region, so a note's contact read a
    moment ago is not read and validated again (tables are best read owners first).
    """
    rows = _read(connector, name, until, normalise)
    return with_owners(connector, name, rows, known, normalise)


RawRows = Iterator[tuple[WindowRow, dict]]


def rows_by_tenant(
    connector: CrmSqlConnector, name: str, until: datetime, normalise: Normalise = harvest_identity
) -> Iterator[tuple[str, RawRows]]:
    """(tenant id, its rows) of a table with a tenant column, in the database's order of tenants.

    Rows naming no tenant come first, as tenant "". Owners are not attached yet: give each
    tenant's rows to ``with_owners`` once the rows they belong to have been read.
    """
    rows = _read(connector, name, until, normalise, by_tenant=True)
    try:
        yield from groupby(rows, key=lambda item: item[0].tenant or "")
    finally:
        rows.close()  # groupby cannot close the query it reads


def with_owners(
    connector: CrmSqlConnector,
    name: str,
    rows: Iterable[tuple[WindowRow, dict]],
    known: Known | None,
    normalise: Normalise = harvest_identity,
) -> Iterator[WindowRow]:
    """Each row with the identities of the rows it belongs to, a batch of rows at a time."""
    links = owner_links(connector, name)
    remember = known is not None and name in owner_tables(connector)
    batch: list[tuple[WindowRow, dict]] = []
    for item in rows:
        batch.append(item)
        if len(batch) >= _YIELD_PER:
            yield from _attach(connector, name, links, batch, known, remember, normalise)
            batch = []
    if batch:
        yield from _attach(connector, name, links, batch, known, remember, normalise)


def _read(
    connector: CrmSqlConnector,
    name: str,
    until: datetime,
    normalise: Normalise,
    *,
    by_tenant: bool = False,
) -> Generator[tuple[WindowRow, dict], None, None]:
    tmap = connector.datamap.tables[name]
    table = connector.table(name)
    region, countries = connector.region, connector.countries
    links = owner_links(connector, name)
    query = select(*(table.c[c] for c in _columns_needed(connector, name)))
    clause = window_clause(connector, name, until)
    if clause is not None:
        query = query.where(clause)
    if by_tenant and tmap.tenant_column:
        query = query.order_by(table.c[tmap.tenant_column].asc().nulls_first())
    with connector.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=_YIELD_PER).execute(query)
        for row in result.mappings():
            data = dict(row)
            tenant = data.get(tmap.tenant_column) if tmap.tenant_column else None
            country = countries.for_row(name, data)
            mentioned = frozenset().union(
                *(mentioned_in(data.get(col), country, normalise) for col in tmap.free_text)
            )
            keys = tmap.key_columns
            item = WindowRow(
                region=region,
                table=name,
                key=data[keys[0]] if len(keys) == 1 else row_key(tmap, data),
                tenant=str(tenant) if tenant is not None else None,
                own=_identity_seeds(tmap, data, country, normalise),
                mentioned=mentioned,
            )
            # Only what finding the owners needs is kept beside the row, never the text.
            yield item, {link.local: data.get(link.local) for link in links}


def _attach(
    connector: CrmSqlConnector,
    name: str,
    links: list[_OwnerLink],
    batch: list[tuple[WindowRow, dict]],
    known: Known | None,
    remember: bool,
    normalise: Normalise,
) -> Iterator[WindowRow]:
    for link in links:
        values = {refs[link.local] for _, refs in batch if refs[link.local] is not None}
        owners = owner_seeds(
            connector, link.table, link.key, values, known=known, normalise=normalise
        )
        for item, refs in batch:
            found = owners.get(refs[link.local])
            if found:
                item.own = item.own | found
    for item, _ in batch:
        if remember:
            known[(name, item.key)] = item.own  # type: ignore[index]
        yield item


def owner_seeds(
    connector: CrmSqlConnector,
    name: str,
    key: str,
    values: set[Any],
    depth: int = 0,
    known: Known | None = None,
    normalise: Normalise = harvest_identity,
) -> dict[Any, Seeds]:
    """key value -> the identities of the rows of ``name`` with that key (and of their owners)."""
    if not values or depth > _MAX_DEPTH:
        return {}
    tmap = connector.datamap.tables[name]
    out: dict[Any, Seeds] = {}
    if known and key == tmap.primary_key:
        out = {v: known[(name, v)] for v in values if (name, v) in known}
        values = values - out.keys()
        if not values:
            return out
    table = connector.table(name)
    links = owner_links(connector, name)
    cols = list(
        dict.fromkeys(
            [key, *(c for s in tmap.identities for c in s.source_columns)]
            + [link.local for link in links]
            + list(connector.countries.row_columns(name))
        )
    )
    column = table.c[key]
    typed = [v for v in (typed_value(column, v) for v in values) if v is not None]
    rows: list[dict] = []
    with connector.engine.connect() as conn:
        for start in range(0, len(typed), _CHUNK):
            chunk = typed[start : start + _CHUNK]
            query = select(*(table.c[c] for c in cols)).where(column.in_(chunk))
            rows += [dict(r) for r in conn.execute(query).mappings()]
    upstream: dict[str, dict[Any, Seeds]] = {}
    for link in links:
        wanted = {r[link.local] for r in rows if r.get(link.local) is not None}
        upstream[link.local] = owner_seeds(
            connector, link.table, link.key, wanted, depth + 1, known, normalise
        )
    for r in rows:
        seeds = _identity_seeds(tmap, r, connector.countries.for_row(name, r), normalise)
        for link in links:
            seeds = seeds | upstream[link.local].get(r.get(link.local), Seeds())
        # Keys come back typed as the column; callers look them up with the values they read.
        out[r[key]] = out.get(r[key], Seeds()) | seeds
    return out
