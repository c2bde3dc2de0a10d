"""Any SQL schema, driven by a data map: find a person's rows, their dependants and mentions.

Discovery in three passes, each batched over any number of subjects (one query per table and
identity column per round, values in bound ``IN`` lists — never one query per person):

1. *Identities to a fixpoint*: rows matched through identity columns yield further identities
   (a contact row yields its phone, a user row its user id) until nothing new appears.
2. *References*: rows that depend on the subject's rows, in an order the data map allows.
3. *Mentions*: free-text columns that mention any resolved identity; reported as mentions, not as
   the subject's own records.

Scope keeps a request inside its rights: ``user_account`` (iNextCRM is controller) searches the
``inextcrm`` tables; ``client_data`` searches one Client's tenant of the ``client`` tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, Table, bindparam, false, select
from sqlalchemy.engine import Connection, Engine

from connectors.base import NAME, PHONE, Findings, FoundRow, Identity, RowRef
from connectors.crm.datamap import DataMap, IdentityColumn, TableMap
from connectors.crm.datamap_checks import validate_against
from connectors.crm.match_sql import folds_unicode, match_expression
from connectors.crm.mentions import MentionSearch
from connectors.crm.phone_countries import PhoneCountries, tenant_countries
from connectors.crm.resolution import Resolution, SubjectState, resolve_across
from connectors.crm.sql_helpers import pk_order, reflect_table, row_key, typed_value
from connectors.identities import harvest_identity, match_values, same_identity

Progress = Callable[[str, int, int], None]
SCOPES = ("user_account", "client_data", "all")


# Values per IN list: one statement per table and kind for a batch (500 sent 70 statements for
# 1,000 people where the floor sends 26: bench.floor). 2,000 keys of up to 16 columns stay under
# SQLite's 32,766 and PostgreSQL's 65,535 bound values per statement.
CHUNK_SIZE = 2000
MAX_LOOKUPS = 512


class CrmSqlConnector(MentionSearch):
    """One regional database described by a data map."""

    system = "crm"

    def __init__(
        self,
        region: str,
        engine: Engine,
        datamap: DataMap,
        *,
        default_phone_region: str = "US",
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.region = region
        self.engine = engine
        self.datamap = datamap
        self.default_phone_region = default_phone_region
        self.chunk_size = chunk_size
        self._tables: dict[str, Table] = {}
        # Lookup statements built once: rebuilding the phone expression and its cache key for
        # every statement was half of a single discovery's time (bench.floor).
        self._lookups: dict[tuple[str, str, str | None, str | None], Select] = {}
        # Swappable for one run (dsr.breach.identities caches them), so a caller that
        # reads the same rows again validates each value once; the results are the same.
        self.harvest_identity: Callable[[str, Any, str], Identity | None] = harvest_identity
        self.match_values: Callable[..., set[str]] = match_values
        self.countries = PhoneCountries(
            datamap, region, default_phone_region, self._tenant_countries
        )
        self._conn: Connection | None = None

    # -- set-up -------------------------------------------------------------------------------

    def validate(self) -> None:
        validate_against(self.datamap, self.engine, database=self.region)

    @property
    def folds_unicode(self) -> bool:
        return folds_unicode(self.engine)

    def _tenant_countries(self) -> Mapping[str, str]:
        with self.engine.connect() as conn:
            return tenant_countries(conn, self.datamap)

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """The discovery's one connection (checked out, and pinged, once per call), or a new one
        outside a discovery."""
        if self._conn is not None:
            yield self._conn
            return
        with self.engine.connect() as conn:
            self._conn = conn
            try:
                yield conn
            finally:
                self._conn = None

    def table(self, name: str) -> Table:
        if name not in self._tables:
            self._tables[name] = reflect_table(self.engine, name)
        return self._tables[name]

    def tables_in_scope(self, scope: str) -> tuple[list[str], dict[str, str]]:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
        wanted = {"user_account": "inextcrm", "client_data": "client"}.get(scope)
        included, skipped = [], {}
        for name in self.datamap.traversal_order():
            owner = self.datamap.tables[name].controller
            if wanted is None or owner == wanted:
                included.append(name)
            else:
                skipped[name] = f"controller is {owner}: outside a {scope} request"
        return included, skipped

    # -- pass 1: identities -------------------------------------------------------------------

    def resolve(
        self,
        subjects: dict[str, set[Identity]],
        *,
        scope: str,
        client_id: str | None = None,
        progress: Progress | None = None,
        state: dict[str, SubjectState] | None = None,
    ) -> dict[str, set[Identity]]:
        """Every identity of each subject reachable through identity columns in this database.

        Given the ``state`` of an earlier call, only identities this database has not been
        searched with yet are searched (the cross-region fixpoint calls it repeatedly).
        """
        state = {} if state is None else state
        for key, ids in subjects.items():
            state.setdefault(key, SubjectState(set())).identities |= ids
        with self._connection():
            self._fixpoint(state, scope, client_id, progress)
        return {key: set(state[key].identities) for key in subjects}

    def _fixpoint(
        self,
        state: dict[str, SubjectState],
        scope: str,
        client_id: str | None,
        progress: Progress | None,
    ) -> None:
        tables, _ = self.tables_in_scope(scope)
        rounds = 0
        while True:
            fresh = {key: s.identities - s.searched for key, s in state.items()}
            if not any(fresh.values()):
                return
            rounds += 1
            for s, new in zip(state.values(), fresh.values(), strict=True):
                s.searched |= new
            for i, name in enumerate(tables):
                tmap = self.datamap.tables[name]
                for ident_col in tmap.identities:
                    if ident_col.matches:
                        self._match_column(state, fresh, name, tmap, ident_col, client_id)
                if progress:
                    progress(f"identities round {rounds}", i + 1, len(tables))

    def _match_column(
        self,
        state: dict[str, SubjectState],
        fresh: dict[str, set[Identity]],
        name: str,
        tmap: TableMap,
        ident_col: IdentityColumn,
        client_id: str | None,
    ) -> None:
        owners: dict[Any, set[str]] = defaultdict(set)
        wanted: dict[str, set[Identity]] = defaultdict(set)
        table = self.table(name)
        column = table.c[ident_col.column]  # type: ignore[index]
        folds = self.folds_unicode if ident_col.kind != PHONE else False
        for key, idents in fresh.items():
            for ident in idents:
                if ident.kind == ident_col.kind:
                    wanted[key].add(ident)
                    for value in self.match_values(ident, folds_unicode=folds):
                        typed = typed_value(column, value)
                        if typed is not None:
                            owners[typed].add(key)
        if not owners:
            return
        lookup = self._lookup(name, tmap, ident_col.column, ident_col.kind, client_id)
        for row in self._select_in(lookup, list(owners)):
            stored = row[ident_col.column]  # type: ignore[index]
            country = self.countries.for_row(name, row) if ident_col.kind == PHONE else ""
            for key in owners.get(row["_match"], ()):
                # The database narrowed generously; this decides (connectors.identities).
                if any(same_identity(i, stored, country) for i in wanted[key]):
                    self._own(state[key], name, tmap, row, f"identity:{ident_col.column}")

    def _own(self, subject: SubjectState, name: str, tmap: TableMap, row: dict, via: str) -> bool:
        pk = row_key(tmap, row)
        if (name, pk) in subject.rows:
            return False
        data = {k: v for k, v in row.items() if k != "_match"}
        subject.rows[(name, pk)] = FoundRow(RowRef(self.region, name, pk), via, data)
        if via.startswith("identity:"):
            subject.identities |= self._harvest(name, tmap, data)
        return True

    def _harvest(self, name: str, tmap: TableMap, row: dict) -> set[Identity]:
        found: set[Identity] = set()
        country = self.countries.for_row(name, row)
        for ident_col in tmap.identities:
            if not ident_col.harvest:
                continue
            parts = [row.get(c) for c in ident_col.source_columns]
            if ident_col.kind == NAME:
                raw: Any = " ".join(str(p) for p in parts if p)
            else:
                raw = parts[0]
            ident = self.harvest_identity(ident_col.kind, raw, country)
            if ident is not None:
                found.add(ident)
        return found

    def tenants_of(
        self, identities: set[Identity], *, scope: str, client_id: str | None = None
    ) -> set[str]:
        """The Clients (tenant ids) whose rows in this database the person's identities reach."""
        if client_id is not None:
            return {str(client_id)}
        state = {"subject": SubjectState(set(identities))}
        self._fixpoint(state, scope, client_id, None)
        tenants = set()
        for (table, _), row in state["subject"].rows.items():
            column = self.datamap.tables[table].tenant_column
            if column and row.data.get(column) is not None:
                tenants.add(str(row.data[column]))
        return tenants

    # -- pass 2 and 3: full findings ----------------------------------------------------------

    def find(
        self,
        subjects: dict[str, set[Identity]],
        *,
        scope: str,
        client_id: str | None = None,
        progress: Progress | None = None,
        state: dict[str, SubjectState] | None = None,
    ) -> dict[str, Findings]:
        """Each subject's rows, dependants and mentions in this database.

        Given the ``state`` this database kept during ``resolve_across`` (``Resolution``), the
        rows its identity columns matched are reused: only identities it has not searched yet
        are searched, so the identity pass is not sent twice.
        """
        tables, skipped = self.tables_in_scope(scope)
        if state is None:
            state = {key: SubjectState(set(ids)) for key, ids in subjects.items()}
        else:
            for key, ids in subjects.items():
                state.setdefault(key, SubjectState(set())).identities |= ids
            state = {key: state[key] for key in subjects}
        with self._connection():
            self._fixpoint(state, scope, client_id, progress)
            for i, name in enumerate(tables):
                self._follow_references(state, name, set(tables), client_id)
                if progress:
                    progress("references", i + 1, len(tables))
            mentions = self._mentions(state, tables, client_id, progress)
        return {
            key: Findings(
                system=self.system,
                region=self.region,
                subject=key,
                rows=sorted(s.rows.values(), key=lambda r: (r.ref.table, pk_order(r.ref.pk))),
                mentions=mentions.get(key, []),
                identities=s.identities,
                searched_tables=tables,
                skipped_tables=skipped,
            )
            for key, s in state.items()
        }

    def _follow_references(
        self,
        state: dict[str, SubjectState],
        dependent: str,
        in_scope: set[str],
        client_id: str | None,
    ) -> None:
        for owner_table, ref in self.datamap.child_references():
            if ref.direction == "child" and owner_table == dependent:
                source, source_col, target_col = ref.target_table, ref.target_column, ref.column
            elif ref.direction == "parent" and ref.target_table == dependent:
                source, source_col, target_col = owner_table, ref.column, ref.target_column
            else:
                continue
            if source not in in_scope:
                continue
            owners: dict[Any, set[str]] = defaultdict(set)
            for key, s in state.items():
                for (table, _), found in s.rows.items():
                    value = found.data.get(source_col) if table == source else None
                    if value is not None:
                        owners[value].add(key)
            if not owners:
                continue
            tmap = self.datamap.tables[dependent]
            lookup = self._lookup(dependent, tmap, target_col, None, client_id)
            for row in self._select_in(lookup, list(owners)):
                for key in owners.get(row["_match"], ()):
                    self._own(state[key], dependent, tmap, row, f"reference:{source}.{source_col}")

    # -- queries --------------------------------------------------------------------------------

    def _lookup(
        self, name: str, tmap: TableMap, column: str, kind: str | None, client_id: str | None
    ) -> Select:
        """The rows whose ``column`` (through the identity kind's match expression) is one of
        the ``keys`` bound at execution, within the Client's rows when one is given."""
        key = (name, column, kind, client_id)
        if key not in self._lookups:
            if len(self._lookups) >= MAX_LOOKUPS:  # a long-lived process meets many Clients
                self._lookups.clear()
            table = self.table(name)
            expr = match_expression(kind, table.c[column]) if kind else table.c[column]
            query = select(table, expr.label("_match")).where(
                expr.in_(bindparam("keys", expanding=True))
            )
            tenant = self._tenant_clause(table, tmap, client_id)
            self._lookups[key] = query.where(tenant) if tenant is not None else query
        return self._lookups[key]

    def _select_in(self, lookup: Select, values: list[Any]) -> Iterator[dict]:
        with self._connection() as conn:
            for start in range(0, len(values), self.chunk_size):
                chunk = values[start : start + self.chunk_size]
                for row in conn.execute(lookup, {"keys": chunk}).mappings():
                    yield dict(row)

    def _tenant_clause(self, table: Table, tmap: TableMap, client_id: str | None) -> Any:
        if client_id is None or not tmap.tenant_column:
            return None
        column = table.c[tmap.tenant_column]
        typed = typed_value(column, client_id)
        # A client id that cannot even be typed for the column matches no row: never all rows.
        return column == typed if typed is not None else false()


__all__ = ["SCOPES", "CrmSqlConnector", "Progress", "Resolution", "resolve_across"]
