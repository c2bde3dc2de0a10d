"""What backups say about a breach window: rows that existed then and are gone from the live CRM.

A backup taken inside the window is the window's state at that moment. Its metadata counts every
row of each table; the live database's rows recorded before the backup's time are what is left of
them, so the difference is a lower bound of the window's rows deleted since (rows added and
deleted between two backups are seen by neither). Nothing is restored: a restore would bring back
people who asked to be erased (see ``dsr.breach.model``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from connectors.backups.record import BackupRecord
from connectors.backups.store import BackupStore
from connectors.crm.sql import CrmSqlConnector
from dsr.breach.rows import window_clause
from dsr.breach.window import BreachQuery


@dataclass
class BackupGap:
    """Rows a backup taken inside the window held that the live database no longer has."""

    backup_id: str
    region: str
    created_at: datetime
    expires_at: datetime
    missing_rows: dict[str, int]


def backup_gaps(
    store: BackupStore, by_region: dict[str, CrmSqlConnector], query: BreachQuery
) -> list[BackupGap]:
    """Backups taken inside the window, with the rows they held that are gone from the live CRM.

    A backup's metadata counts every row of each table; the live database's rows recorded before
    the backup's time are what is left of them. The difference is a lower bound of the window's
    rows deleted since (rows added and deleted between two backups are seen by neither).
    """
    window = query.window
    gaps = []
    records: list[BackupRecord] = [
        r
        for r in store.list()
        if r.region in by_region and window.since <= r.created_at < window.until
    ]
    for record in records:
        connector = by_region[record.region]
        missing = {}
        for name in query.tables:
            held = record.tables.get(name)
            if held is None:
                continue
            live = _live_count(connector, name, record.created_at)
            if held > live:
                missing[name] = held - live
        gaps.append(
            BackupGap(
                record.backup_id, record.region, record.created_at, record.expires_at, missing
            )
        )
    return gaps


def _live_count(connector: CrmSqlConnector, name: str, before: datetime) -> int:
    query = select(func.count()).select_from(connector.table(name))
    clause = window_clause(connector, name, before)
    if clause is not None:
        query = query.where(clause)
    with connector.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
