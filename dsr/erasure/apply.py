"""Applying erasure plans: one transaction per database, all subjects of a batch, or nothing.

Order inside the transaction: texts that mention a subject are redacted, then the rows that stay
are emptied, then rows are deleted, each table's rows before the rows they point at. Every row that
is rewritten is read again inside the transaction (locked with ``FOR UPDATE`` on PostgreSQL; on
SQLite ``BEGIN IMMEDIATE`` holds the write lock from the first read), so a text that changed since
discovery is redacted as it is now, never overwritten with a stale copy.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from connectors.base import Identity
from connectors.crm.sql import CrmSqlConnector
from connectors.crm.sql_helpers import key_clause, key_columns, row_key
from connectors.free_text import MentionMatcher
from dsr.erasure.plan import ColumnRules, ErasurePlan, TablePlan

# Called after each step inside the transaction with the step's name; tests use it to inject
# faults (kill the connection, raise) at a known point.
StepHook = Callable[[str, Connection], None]
Applied = dict[str, dict[str, dict[str, int]]]


class ErasureFailed(RuntimeError):
    """An erasure that did not complete. The message names region, step and cause, no values."""

    def __init__(self, region: str, stage: str, exc: BaseException) -> None:
        self.region, self.stage = region, stage
        self.outcome_unknown = stage == "committing"
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        self.error_class = type(orig).__name__
        self.code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
        self.connection_lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
        cause = self.error_class + (f" {self.code}" if self.code else "")
        if self.connection_lost:
            cause = f"the database connection was lost ({cause})"
        elif type(orig).__name__ == "OperationalError":
            # Operational messages (locks, timeouts, shutdowns) carry no row values; constraint
            # and data errors can quote a whole row, so their text is never repeated.
            cause += f": {str(orig).strip().splitlines()[0][:200]}"
        outcome = (
            "the connection failed during COMMIT, so whether it committed is unknown: verify"
            if self.outcome_unknown
            else "the transaction was rolled back and nothing in this database changed"
        )
        super().__init__(f"erasure in region {region!r} failed while {stage}: {cause}; {outcome}")


@dataclass
class Stage:
    name: str = "starting the transaction"


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction; on SQLite taken with the write lock, secure_delete and foreign
    keys on."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        # The driver's own implicit BEGIN would only start at the first write, after our reads.
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("PRAGMA secure_delete=ON")
        # As PostgreSQL does: a delete the schema's foreign keys forbid fails (nothing changes),
        # and ON DELETE SET NULL clears a kept row's pointer instead of leaving it dangling.
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(Exception):
                conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


def _chunks(values: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Applier:
    def __init__(
        self,
        connector: CrmSqlConnector,
        rules: Callable[[str], ColumnRules],
        hook: StepHook | None = None,
    ) -> None:
        self.connector = connector
        self.datamap = connector.datamap
        self.rules = rules
        self.hook = hook

    def run(
        self,
        plans: Sequence[ErasurePlan],
        identities: Mapping[str, set[Identity]],
        stage: Stage,
    ) -> Applied:
        applied = nothing_applied(plans)
        if not any(tp.pks for p in plans for tp in p.tables):
            return applied  # no write lock taken for a region that holds nobody
        matchers = {p.subject: MentionMatcher(identities.get(p.subject, set())) for p in plans}
        with transaction(self.connector.engine) as conn:
            for p in plans:
                for tp in p.tables:
                    if tp.action != "delete" and tp.pks:
                        stage.name = f"{_verb(tp.action)} rows of {tp.table}"
                        n = self._rewrite(conn, tp, matchers[p.subject])
                        applied[p.subject][tp.table][tp.action] += n
                        self._step(f"{tp.action} {tp.table}", conn)
            # One statement per table chunk for the whole batch, however many subjects it holds.
            deletes: dict[str, dict[str, str]] = defaultdict(dict)  # table -> pk -> subject
            for p in plans:
                for tp in p.tables:
                    if tp.action == "delete":
                        for pk in tp.pks:
                            deletes[tp.table].setdefault(pk, p.subject)
            for table in self.delete_order(set(deletes)):
                stage.name = f"deleting rows of {table}"
                for subject, n in self._delete(conn, table, deletes[table]).items():
                    applied[subject][table]["delete"] += n
                self._step(f"delete {table}", conn)
            stage.name = "committing"
        return applied

    def _step(self, name: str, conn: Connection) -> None:
        if self.hook is not None:
            self.hook(name, conn)

    def _rewrite(self, conn: Connection, tp: TablePlan, matcher: MentionMatcher) -> int:
        table = self.connector.table(tp.table)
        tmap = self.datamap.tables[tp.table]
        rules = self.rules(tp.table)
        keys = key_columns(table, tmap)
        wanted = dict.fromkeys(
            [*tmap.key_columns, *tp.columns, *self.connector.countries.row_columns(tp.table)]
        )
        if all(action == "keep" for action in tp.columns.values()):
            return 0  # nothing in these rows is erased: no need to read them
        changed = 0
        for chunk in _chunks(tp.pks, self.connector.chunk_size):
            query = (
                select(*(table.c[c] for c in wanted))
                .where(key_clause(table, tmap, chunk))
                .with_for_update()
            )
            batches: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
            for row in conn.execute(query).mappings():
                new = rules.changes(row, tp.columns, matcher)
                if new:
                    cols = tuple(sorted(new))
                    params = {f"_erase_v{i}": new[c] for i, c in enumerate(cols)}
                    params |= {f"_erase_k{i}": row[k.name] for i, k in enumerate(keys)}
                    batches[cols].append(params)
            for cols, params_list in batches.items():
                values = {
                    c: bindparam(f"_erase_v{i}", type_=table.c[c].type) for i, c in enumerate(cols)
                }
                where = and_(
                    *(k == bindparam(f"_erase_k{i}", type_=k.type) for i, k in enumerate(keys))
                )
                stmt = update(table).where(where).values(values)
                conn.execute(stmt, params_list)
                changed += len(params_list)
        return changed

    def _delete(self, conn: Connection, name: str, owners: Mapping[str, str]) -> Counter[str]:
        """Delete rows by their key; subject -> rows deleted (a row shared counts once)."""
        table = self.connector.table(name)
        tmap = self.datamap.tables[name]
        keys = key_columns(table, tmap)
        deleted: Counter[str] = Counter()
        for chunk in _chunks(list(owners), self.connector.chunk_size):
            where = key_clause(table, tmap, chunk)
            # Read first: rowcount alone could not say whose rows were still there.
            present = conn.execute(select(*keys).where(where).with_for_update()).mappings().all()
            result = conn.execute(delete(table).where(where))
            if result.rowcount is not None and result.rowcount > len(present):
                # Never: the key is unique (checked against the schema). Refuse to commit.
                raise RuntimeError(f"deleting from {name} removed more rows than were planned")
            deleted.update(owners[row_key(tmap, row)] for row in present)
        return deleted

    def delete_order(self, tables: set[str]) -> list[str]:
        """Rows that point at others go first, so no foreign key ever blocks a delete.

        For a child reference this is the reverse of ``traversal_order``; for a parent-direction
        reference (a customer row pointing at the profile that belongs to it) the row holding the
        pointer still goes first. Real foreign keys the data map does not mention count too.
        """
        rank = {t: i for i, t in enumerate(reversed(self.datamap.traversal_order()))}
        must_wait: dict[str, set[str]] = {t: set() for t in tables}
        for name in tables:
            targets = {ref.target_table for ref in self.datamap.tables[name].references}
            targets |= {fk.column.table.name for fk in self.connector.table(name).foreign_keys}
            for target in targets & (tables - {name}):
                must_wait[target].add(name)
        order: list[str] = []
        left = sorted(tables, key=rank.__getitem__)
        while left:
            ready = [t for t in left if must_wait[t] <= set(order)]
            # A cycle cannot be ordered: fall back to the map's order and let the database judge.
            nxt = ready[0] if ready else left[0]
            order.append(nxt)
            left.remove(nxt)
        return order


def nothing_applied(plans: Sequence[ErasurePlan]) -> Applied:
    """Every planned subject, table and action with a zero count, for ``apply`` to fill in."""
    applied: Applied = {p.subject: {} for p in plans}
    for p in plans:
        for tp in p.tables:
            applied[p.subject].setdefault(tp.table, {}).setdefault(tp.action, 0)
    return applied


def _verb(action: str) -> str:
    return {"redact": "redacting", "anonymise": "anonymising", "keep": "emptying kept"}[action]


def apply_plans(
    connector: CrmSqlConnector,
    rules: Callable[[str], ColumnRules],
    plans: Sequence[ErasurePlan],
    identities: Mapping[str, set[Identity]],
    hook: StepHook | None = None,
) -> Applied:
    for p in plans:
        if p.region != connector.region:
            raise ValueError(f"a plan for region {p.region!r} given to region {connector.region!r}")
        redacts = any("redact" in tp.columns.values() for tp in p.tables)
        if redacts and not identities.get(p.subject):
            raise ValueError(f"subject {p.subject!r}: no identities to re-find its mentions with")
    stage = Stage()
    try:
        return Applier(connector, rules, hook).run(plans, identities, stage)
    except Exception as exc:
        raise ErasureFailed(connector.region, stage.name, exc) from None
