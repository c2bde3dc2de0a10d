"""One breach-impact query end to end, as the CLI and the Dagster job both run it.

Assess, writing the report as the people are found into the export store (EU data: the EU store)
or a given folder, then record the query in the audit log with counts and the report's SHA-256 —
never an identity. If the query fails half-way, or the audit entry cannot be written, the report
is removed again: a report nobody can account for must not exist.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.backups.store import BackupStore
from connectors.crm.sql import CrmSqlConnector
from dsr.breach.assess import assess
from dsr.breach.model import BreachImpact, Progress, new_breach_id
from dsr.breach.window import BreachQuery
from dsr.breach.writer import ReportFiles, ReportWriter, default_folder
from dsr.erasure.tombstones import Tombstones
from dsr.ledger import Ledger

AUDIT_EVENT = "breach_impact"


def audit_details(impact: BreachImpact, files: ReportFiles) -> dict[str, Any]:
    return {**impact.counts(), **files.metadata()}


def run_breach_impact(
    connectors: Iterable[CrmSqlConnector],
    query: BreachQuery,
    *,
    ledger: Ledger,
    store_dir_for: Callable[[list[str]], Path],
    out: Path | None = None,
    backups: BackupStore | None = None,
    tombstones: Tombstones | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> tuple[BreachImpact, ReportFiles]:
    now = now or datetime.now(UTC)
    breach_id = new_breach_id(now)
    # The people are written while they are found, before it is known which regions had rows:
    # the report starts in the store of the regions asked about (EU among them: the EU store)
    # and moves if the rows found belong elsewhere.
    folder = (
        Path(out)
        if out is not None
        else default_folder(store_dir_for(list(query.regions)), breach_id)
    )
    writer = ReportWriter(folder)
    try:
        impact = assess(
            connectors, query, writer, now=now, breach_id=breach_id, backups=backups,
            tombstones=tombstones, progress=progress,
        )  # fmt: skip
        files = writer.finish(impact)
    except BaseException:
        writer.abort()
        raise
    if out is None:
        home = default_folder(store_dir_for(impact.regions_with_data()), breach_id)
        if home != folder:
            files = writer.move(files, home)
    try:
        ledger.audit(None, AUDIT_EVENT, audit_details(impact, files))
    except BaseException:
        writer.abort()
        if out is None:
            shutil.rmtree(files.folder, ignore_errors=True)
        raise
    return impact, files
