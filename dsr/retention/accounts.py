"""Closed accounts, as the data map's ``accounts:`` declares them, and a tenant's rows.

No table name is known here: the account tables and their status and closure columns come from
``accounts:``, the tenant's rows from each table's ``tenant_column``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Table, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from connectors.base import EMAIL, NAME, PHONE, Findings, FoundRow, Identity, RowRef
from connectors.crm.datamap import AccountTable, DataMapError, TableMap
from connectors.crm.match_sql import match_expression
from connectors.crm.sql import CrmSqlConnector
from connectors.crm.sql_helpers import pk_order, row_key, typed_value
from connectors.identities import harvest_identity
from dsr.retention.dates import as_date, due_on, is_due, latest_due_start

ACCOUNT = "account"  # the identity kind of an account (dsr.ledger.records.ACCOUNT)
STRONG = (EMAIL, PHONE, NAME)


@dataclass(frozen=True)
class ClosedAccount:
    kind: str  # "tenant" | "user"
    region: str
    account_id: str
    tenant_id: str | None  # a User's Client
    closed_on: date
    due_on: date

    @property
    def key(self) -> str:
        """Names the account in ledger identities and checkpoints: kind, region and row id."""
        return f"{self.kind}:{self.region}:{self.account_id}"

    @property
    def identity(self) -> Identity:
        return Identity(ACCOUNT, self.key)


def column(table: Table, name: str, where: str) -> Column:
    if name not in table.c:
        raise DataMapError(f"{where}: table {table.name!r} has no column {name!r}")
    return table.c[name]


def on_or_before(col: Column, day: date) -> ColumnElement:
    """``col`` on or before ``day``, whether the column holds dates or timestamps."""
    if isinstance(col.type, DateTime):
        return col < datetime.combine(day + timedelta(days=1), time.min)
    return col <= day


def closed_accounts(
    connector: CrmSqlConnector, spec: AccountTable, kind: str, today: date
) -> list[ClosedAccount]:
    """Accounts of ``spec``'s table closed long enough ago (``purge_after``) to be purged."""
    dm = connector.datamap
    where = f"{dm.source_path}: accounts.{kind}"
    table = connector.table(spec.table)
    tmap = dm.tables[spec.table]
    ident = column(table, spec.id_column, where)
    closed_at = column(table, spec.closed_at_column, where)
    status = column(table, spec.status_column, where)
    tenant = table.c[tmap.tenant_column] if kind == "user" and tmap.tenant_column else None
    bound = latest_due_start(today, spec.purge_after)
    query = select(ident, closed_at, *([tenant] if tenant is not None else [])).where(
        status == spec.closed_status,
        closed_at.is_not(None),
        on_or_before(closed_at, bound),
    )
    found = []
    with connector.engine.connect() as conn:
        for row in conn.execute(query.order_by(ident)).mappings():
            closed = as_date(row[closed_at.name])
            if closed is None or not is_due(closed, spec.purge_after, today):
                continue
            found.append(
                ClosedAccount(
                    kind=kind,
                    region=connector.region,
                    account_id=str(row[ident.name]),
                    tenant_id=str(row[tenant.name]) if tenant is not None else None,
                    closed_on=closed,
                    due_on=due_on(closed, spec.purge_after),
                )
            )
    return found


def _action(tmap: TableMap) -> str:
    return tmap.erasure.action if tmap.erasure else "delete"


def _columns_to_read(table: Table, tmap: TableMap) -> list[Column]:
    """A deleted row needs only its key and the opaque ids that lead to the account's other
    rows; a row that stays is read whole, because its columns are what erasure rewrites."""
    if _action(tmap) != "delete":
        return list(table.c)
    wanted = set(tmap.key_columns)
    wanted |= {i.column for i in tmap.identities if i.column and i.harvest and i.kind not in STRONG}
    return [c for c in table.c if c.name in wanted]


def _rows(
    conn: Connection,
    region: str,
    name: str,
    tmap: TableMap,
    table: Table,
    where: ColumnElement,
    via: str,
) -> Iterator[FoundRow]:
    query = select(*_columns_to_read(table, tmap)).where(where)
    for row in conn.execution_options(yield_per=5000).execute(query).mappings():
        data = dict(row)
        yield FoundRow(RowRef(region, name, row_key(tmap, data)), via, data)


def _harvest(tmap: TableMap, data: dict[str, Any], kinds: tuple[str, ...] | None) -> set[Identity]:
    found = set()
    for ident in tmap.identities:
        if not ident.harvest or (kinds is not None and ident.kind not in kinds):
            continue
        if kinds is None and ident.kind in STRONG:
            continue
        parts = [data.get(c) for c in ident.source_columns]
        raw: Any = " ".join(str(p) for p in parts if p) if ident.kind == NAME else parts[0]
        value = harvest_identity(ident.kind, raw)
        if value is not None:
            found.add(value)
    return found


def tenant_findings(
    connector: CrmSqlConnector, spec: AccountTable, tenant_id: str, subject: str
) -> Findings:
    """Every row of one tenant, as findings erasure can plan with.

    The tenant's own row (``accounts.tenant.table``), every row of a table whose
    ``tenant_column`` names it, and rows of tables without a tenant column that an opaque id of
    the tenant's rows matches (a User's signed-in visits by user id). Nothing is followed further
    than that: a cookie shared with another Client's User must not pull that User's visits in.
    """
    dm = connector.datamap
    rows: list[FoundRow] = []
    with connector.engine.connect() as conn:
        for name in dm.traversal_order():
            tmap, table = dm.tables[name], connector.table(name)
            if name == spec.table:
                col = column(table, spec.id_column, f"{dm.source_path}: accounts.tenant")
                via = f"account:{spec.id_column}"
            elif tmap.tenant_column:
                col, via = table.c[tmap.tenant_column], f"tenant:{tmap.tenant_column}"
            else:
                continue
            typed = typed_value(col, tenant_id)
            if typed is None:
                raise ValueError(f"tenant id of region {connector.region!r} is not a valid key")
            rows += _rows(conn, connector.region, name, tmap, table, col == typed, via)
        opaque: set[Identity] = set()
        for row in rows:
            opaque |= _harvest(dm.tables[row.ref.table], row.data, None)
        seen = {(r.ref.table, r.ref.pk) for r in rows}
        for name in dm.traversal_order():
            tmap = dm.tables[name]
            if name == spec.table or tmap.tenant_column:
                continue
            table = connector.table(name)
            for ident in tmap.identities:
                values = sorted(
                    i.value
                    for i in opaque
                    if i.kind == ident.kind and ident.matches and ident.column
                )
                if not values:
                    continue
                col = table.c[ident.column]  # type: ignore[index]
                typed = [v for v in (typed_value(col, x) for x in values) if v is not None]
                for start in range(0, len(typed), connector.chunk_size):
                    chunk = typed[start : start + connector.chunk_size]
                    where = match_expression(ident.kind, col).in_(chunk)
                    for found in _rows(conn, connector.region, name, tmap, table, where, "account"):
                        if (name, found.ref.pk) not in seen:
                            seen.add((name, found.ref.pk))
                            rows.append(found)
    # Rows that stay are emptied; the matcher redacting their free text needs the identities
    # they held, and verification searches them for what should be gone.
    identities = set(opaque)
    for row in rows:
        tmap = dm.tables[row.ref.table]
        if _action(tmap) != "delete":
            identities |= _harvest(tmap, row.data, STRONG)
    return Findings(
        system=connector.system,
        region=connector.region,
        subject=subject,
        rows=sorted(rows, key=lambda r: (r.ref.table, pk_order(r.ref.pk))),
        identities=identities,
        searched_tables=dm.traversal_order(),
    )


def account_row(connector: CrmSqlConnector, spec: AccountTable, account_id: str) -> dict | None:
    """The account's own row (all columns), or None if it is gone."""
    table = connector.table(spec.table)
    col = column(table, spec.id_column, f"{connector.datamap.source_path}: accounts")
    typed = typed_value(col, account_id)
    with connector.engine.connect() as conn:
        row = conn.execute(select(table).where(col == typed)).mappings().first()
    return dict(row) if row is not None else None
