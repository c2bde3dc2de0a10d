"""After an erasure: remove what the system itself kept about the person (Principle 3).

Earlier export bundles, the Launchpad intake runs whose config carried the identity, and the
encrypted identities of every request of the same person. Dagster's SQLite storage is then
compacted, because a deleted row lingers in a SQLite file's free pages until VACUUM.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing, suppress
from pathlib import Path

from dagster import DagsterInstance, RunsFilter

from dsr.ledger import IdentitiesForgotten, InvalidTransition, Ledger, RequestRecord, State
from pipelines.intake_names import INTAKE_JOBS, REQUEST_ID_TAG


def purge_subject_traces(
    instance: DagsterInstance, ledger: Ledger, record: RequestRecord
) -> dict[str, int]:
    related = [r for r in ledger.list_requests() if r.subject_hash == record.subject_hash]
    counts = {"bundles": 0, "intake_runs": 0, "identities": 0}
    for other in related:
        bundle = (other.result or {}).get("bundle")
        if bundle and Path(bundle).exists():
            Path(bundle).unlink()
            counts["bundles"] += 1
            ledger.audit(other.request_id, "bundle_deleted", {"by_erasure": record.request_id})
        for run in instance.get_run_records(
            filters=RunsFilter(tags={REQUEST_ID_TAG: other.request_id}, job_name=None)
        ):
            if run.dagster_run.job_name in INTAKE_JOBS:
                instance.delete_run(run.dagster_run.run_id)
                counts["intake_runs"] += 1
        if other.state != State.IN_PROGRESS:
            with suppress(IdentitiesForgotten, InvalidTransition):
                ledger.forget_identities(other.request_id)
                counts["identities"] += 1
    if counts["intake_runs"]:
        compact_sqlite_storage(instance)
    return counts


def compact_sqlite_storage(instance: DagsterInstance) -> None:
    """VACUUM the instance's SQLite files so deleted run config leaves the free pages."""
    root = Path(instance.root_directory)
    for path in sorted(root.rglob("*.db")):
        with closing(sqlite3.connect(path, timeout=30)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
