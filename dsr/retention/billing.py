"""Kept rows past their retention (billing: seven years) are deleted.

Every table the data map keeps with a ``retain_for`` and a ``retain_from`` column is swept: a row
whose ``retain_from`` + ``retain_for`` (``relativedelta``: 29 February + 7 years = 28 February)
is today or earlier is deleted. One transaction per database; the deletion is recorded in the
audit log with counts per table, and the deleted values are made physically unrecoverable the
way an erasure does it. A row with no ``retain_from`` date is kept: its age is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from connectors.crm.sql import CrmSqlConnector
from connectors.crm.sql_helpers import key_clause, key_columns, row_key
from dsr.erasure.apply import Applier, ErasureFailed, Stage, transaction
from dsr.erasure.crm import CrmEraser
from dsr.erasure.verify import physical_cleanup
from dsr.retention.accounts import column, on_or_before
from dsr.retention.dates import is_due, latest_due_start
from dsr.retention.purges import PurgeContext, PurgeOutcome, first_line

PURGE = "billing"
AUDIT_EVENT = "retention_rows_expired"


def expired_rows(connector: CrmSqlConnector, today) -> dict[str, list[str]]:
    """table -> primary keys of kept rows whose retention is over."""
    dm = connector.datamap
    out: dict[str, list[str]] = {}
    with connector.engine.connect() as conn:
        for name in dm.traversal_order():
            tmap = dm.tables[name]
            erasure = tmap.erasure
            if not erasure or erasure.action != "keep" or not erasure.retain_from:
                continue
            table = connector.table(name)
            start = column(table, erasure.retain_from, f"{dm.source_path}: {name}.retain_from")
            keys = key_columns(table, tmap)
            bound = latest_due_start(today, erasure.retain_for or "")
            query = select(*keys, start.label("_retain_from")).where(
                start.is_not(None), on_or_before(start, bound)
            )
            pks = [
                row_key(tmap, row)
                for row in conn.execute(query.order_by(*keys)).mappings()
                if is_due(row["_retain_from"], erasure.retain_for or "", today)
            ]
            if pks:
                out[name] = pks
    return out


def purge_expired_rows(ctx: PurgeContext) -> PurgeOutcome:
    outcome = PurgeOutcome(PURGE, ctx.dry_run)
    for connector in ctx.connectors:
        try:
            expired = expired_rows(connector, ctx.today)
            if not expired:
                continue
            if ctx.dry_run:
                outcome.merge(connector.region, {t: {"delete": len(p)} for t, p in expired.items()})
                continue
            deleted = _delete(ctx, connector, expired)
            outcome.merge(connector.region, {t: {"delete": n} for t, n in deleted.items()})
            ctx.ledger.audit(
                None,
                AUDIT_EVENT,
                {"region": connector.region, "deleted": deleted, "as_of": ctx.today.isoformat()},
            )
            physical_cleanup(connector.engine, connector.region, sorted(deleted), ctx.physical)  # type: ignore[arg-type]
        except Exception as exc:
            outcome.failures.append(f"region {connector.region}: {first_line(exc)}")
    return outcome


def _delete(
    ctx: PurgeContext, connector: CrmSqlConnector, expired: dict[str, list[str]]
) -> dict[str, int]:
    eraser = CrmEraser(connector, hasher=ctx.keys.keyed_hash, physical="none")
    order = Applier(connector, eraser.rules).delete_order(set(expired))
    stage = Stage()
    deleted: dict[str, int] = {}
    try:
        with transaction(connector.engine) as conn:
            for name in order:
                stage.name = f"deleting expired rows of {name}"
                deleted[name] = _delete_table(conn, connector, name, expired[name])
                if ctx.step_hook is not None:
                    ctx.step_hook(f"delete {name}", conn)
            stage.name = "committing"
    except Exception as exc:
        raise ErasureFailed(connector.region, stage.name, exc) from None
    return deleted


def _delete_table(
    conn: Connection, connector: CrmSqlConnector, name: str, pks: Sequence[str]
) -> int:
    table = connector.table(name)
    tmap = connector.datamap.tables[name]
    n = 0
    for start in range(0, len(pks), connector.chunk_size):
        where = key_clause(table, tmap, pks[start : start + connector.chunk_size])
        n += conn.execute(delete(table).where(where)).rowcount
    return n
