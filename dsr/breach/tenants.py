"""A region's Client tables, one Client at a time: what keeps a breach query's memory bounded.

Each breached Client table is read in one query ordered by its tenant column, all of them side
by side, so a Client's contacts and then its notes arrive together and its people can be resolved
and written before the next Client is read. The tenants come from the database too (one ordered
``UNION`` of the tables' tenant ids), so the walk follows the database's own order and never
compares ids in Python; a table whose rows came back in another order fails loudly instead of
splitting a Client in two.

Rows naming no tenant, and every row of a Client table without a tenant column, form the tenant
"" and come first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, closing
from datetime import datetime
from typing import Any

from sqlalchemy import select, union

from connectors.crm.datamap import DataMapError
from connectors.crm.sql import CrmSqlConnector
from connectors.crm.sql_helpers import typed_value
from dsr.breach.rows import (
    Known,
    Normalise,
    RawRows,
    WindowRow,
    rows_by_tenant,
    rows_in_window,
    window_clause,
    with_owners,
)

NO_TENANT = ""


class _Stream:
    """One table's rows, tenant after tenant; ``head`` is the tenant whose rows are next."""

    def __init__(self, groups: Iterator[tuple[str, RawRows]]) -> None:
        self._groups = groups
        self.head = next(groups, None)

    def take(self, tenant: str) -> RawRows:
        if self.head is None or self.head[0] != tenant:
            return
        yield from self.head[1]
        self.head = next(self._groups, None)


def tenants_in_window(connector: CrmSqlConnector, names: list[str], until: datetime) -> list[str]:
    """The tenant ids with rows of these tables in the window, "" first, in the database's order."""
    selects = []
    for name in names:
        table = connector.table(name)
        column = table.c[connector.datamap.tables[name].tenant_column]  # type: ignore[index]
        query = select(column.label("tenant")).distinct()
        clause = window_clause(connector, name, until)
        selects.append(query if clause is None else query.where(clause))
    found = [NO_TENANT]
    if selects:
        ids = union(*selects).subquery()
        ordered = select(ids.c.tenant).order_by(ids.c.tenant.asc().nulls_first())
        with connector.engine.connect() as conn:
            found += [NO_TENANT if t is None else str(t) for t in conn.execute(ordered).scalars()]
    return list(dict.fromkeys(found))


def client_rows(
    connector: CrmSqlConnector,
    names: list[str],
    until: datetime,
    normalise: Normalise,
    tenants: list[str],
) -> Iterator[tuple[str, Iterator[WindowRow]]]:
    """(tenant, its rows of every table in ``names``, owners first) for each of ``tenants``.

    ``tenants`` is ``tenants_in_window`` of the tables. Each tenant's rows must be consumed
    before the next tenant is asked for.
    """
    tenanted = [n for n in names if connector.datamap.tables[n].tenant_column]
    known: Known = {}  # this tenant's owner rows (a note's contact): read once, then let go
    with ExitStack() as stack:
        streams = {
            n: _Stream(stack.enter_context(closing(rows_by_tenant(connector, n, until, normalise))))
            for n in tenanted
        }

        def rows_of(tenant: str) -> Iterator[WindowRow]:
            for name in names:
                if name in streams:
                    raw = streams[name].take(tenant)
                    yield from with_owners(connector, name, raw, known, normalise)
                elif tenant == NO_TENANT:
                    yield from rows_in_window(connector, name, until, known, normalise)

        for tenant in tenants:
            known.clear()
            yield tenant, rows_of(tenant)
        left = [n for n, s in streams.items() if s.head is not None]
    if left:
        raise DataMapError(
            f"{connector.region}: the rows of {', '.join(left)} did not come back in the order "
            "of their tenant ids (are the tenant columns of different types?); nothing is reported"
        )


def client_details(
    connector: CrmSqlConnector, tenants: list[str]
) -> dict[str, tuple[str | None, str | None]]:
    """tenant id -> the Client's name and where its notice goes (the data map's ``tenants``)."""
    spec = connector.datamap.tenants
    tenants = [t for t in tenants if t != NO_TENANT]
    if spec is None or not tenants:
        return {}
    table = connector.table(spec.table)
    for col in (spec.id_column, spec.name_column, spec.contact_column):
        if col and col not in table.c:
            raise DataMapError(
                f"{connector.datamap.source_path}: tenants: column {col!r} is not in table "
                f"{spec.table!r} ({connector.region})"
            )
    id_col = table.c[spec.id_column]
    cols = [id_col]
    cols += [table.c[c] for c in (spec.name_column, spec.contact_column) if c]
    typed: list[Any] = [v for v in (typed_value(id_col, t) for t in tenants) if v is not None]
    out: dict[str, tuple[str | None, str | None]] = {}
    with connector.engine.connect() as conn:
        for start in range(0, len(typed), 500):
            query = select(*cols).where(id_col.in_(typed[start : start + 500]))
            for row in conn.execute(query).mappings():
                name = row[spec.name_column] if spec.name_column else None
                contact = row[spec.contact_column] if spec.contact_column else None
                out[str(row[spec.id_column])] = (name, contact)
    return out
