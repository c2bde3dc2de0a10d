"""One breach-impact query end to end, as the CLI and the Dagster job both run it.

Assess, write the report into the export store (EU data: the EU store) or a given folder, then
record the query in the audit log with counts and the report's SHA-256 — never an identity. If the
audit entry cannot be written the report is removed again: a report nobody can account for must
not exist.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.backup_store import BackupStore
from connectors.breach import BreachImpact, Progress, assess
from connectors.breach_report import (
    REPORT_CSV,
    REPORT_HTML,
    REPORT_JSON,
    ReportFiles,
    default_folder,
    write_report,
)
from connectors.breach_window import BreachQuery
from connectors.crm_sql import CrmSqlConnector
from connectors.tombstones import Tombstones
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
    impact = assess(
        connectors, query, now=now, backups=backups, tombstones=tombstones, progress=progress
    )
    folder = (
        Path(out)
        if out is not None
        else default_folder(store_dir_for(impact.regions_with_data()), impact.breach_id)
    )
    files = write_report(impact, folder)
    try:
        ledger.audit(None, AUDIT_EVENT, audit_details(impact, files))
    except BaseException:
        for name in (REPORT_JSON, REPORT_CSV, REPORT_HTML):
            (folder / name).unlink(missing_ok=True)
        if out is None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return impact, files
