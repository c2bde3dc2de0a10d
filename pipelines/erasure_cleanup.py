"""After a request: remove what the system itself kept for it, as a recorded step of its own.

Every fulfilled request leaves things that were only needed to fulfil it: its encrypted
identities (a restriction keeps them while it is in force), its recorded resolution and plans
(``dsr.ledger.work``) and its staged findings. An erasure also removes what the system kept
about the person (Principle 3): earlier export bundles, every Launchpad intake run whose config
carried the identity (found by its request id, and by the person's keyed hash for those that
registered nothing: refused forms, dry runs; a list run by the person's own hash tag among its
list's), and the encrypted identities of every request of
the same person; Dagster's SQLite storage is then compacted, because a deleted row lingers in a
SQLite file's free pages until VACUUM.

``finish_cleanup`` does all of it idempotently and then appends ``cleanup_done``; a request
that is fulfilled without that entry (a crash between the two) is finished by ``dsr run`` or
the hourly ``cleanup_sweep``.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing, suppress
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from dsr.faults import crash_point
from dsr.ledger import (
    IdentitiesForgotten,
    InvalidTransition,
    Ledger,
    RequestRecord,
    RequestType,
    State,
)
from pipelines.intake_names import INTAKE_JOBS, REQUEST_ID_TAG, SUBJECT_HASH_TAG, subject_tag
from resources.staging import StagingArea

CLEANUP_DONE = "cleanup_done"
# Finished requests whose traces go; a restriction keeps its identities until it is lifted.
_CLOSED = (State.FULFILLED, State.REFUSED, State.LIFTED)


def finish_cleanup(
    instance: DagsterInstance, ledger: Ledger, staging: StagingArea, record: RequestRecord
) -> dict[str, int]:
    """Remove what the request needed only while it ran; safe to run again."""
    counts = {"bundles": 0, "intake_runs": 0, "identities": 0}
    if record.type is RequestType.ERASURE and record.state is State.FULFILLED:
        counts = purge_subject_traces(instance, ledger, record)
    keeps = record.type is RequestType.RESTRICTION and record.state is State.FULFILLED
    if not keeps:
        with suppress(IdentitiesForgotten, InvalidTransition):
            ledger.forget_identities(record.request_id)
            counts["identities"] += 1
    counts["work_records"] = ledger.work.forget(record.request_id)
    staging.clear(record.request_id)
    ledger.audit(record.request_id, CLEANUP_DONE, counts)
    crash_point("cleaned")
    return counts


def cleanup_pending(ledger: Ledger) -> list[RequestRecord]:
    """Closed requests whose cleanup has not been recorded (a crash came in between)."""
    return ledger.without_event(CLEANUP_DONE, states=_CLOSED)


def purge_subject_traces(
    instance: DagsterInstance, ledger: Ledger, record: RequestRecord
) -> dict[str, int]:
    related = ledger.requests_of_subject(record.subject_hash)
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
    for subject in {r.subject_hash for r in related} | {record.subject_hash}:
        counts["intake_runs"] += _delete_finished_intake_runs(instance, subject)
    if counts["intake_runs"]:
        compact_sqlite_storage(instance)
    return counts


def _delete_finished_intake_runs(instance: DagsterInstance, subject_hash: str) -> int:
    """Intake runs tagged with the person's hash: failed, refused, dry runs, registered ones,
    and list runs that name the person among others. One still running is left: it is about to
    register a request of its own or fail, and the next erasure or the intake-run purge finds it
    then."""
    deleted = 0
    finished = [
        DagsterRunStatus.SUCCESS,
        DagsterRunStatus.FAILURE,
        DagsterRunStatus.CANCELED,
    ]
    for tags in ({SUBJECT_HASH_TAG: subject_hash}, {subject_tag(subject_hash): "1"}):
        for run in instance.get_run_records(filters=RunsFilter(tags=tags, statuses=finished)):
            if run.dagster_run.job_name in INTAKE_JOBS:
                instance.delete_run(run.dagster_run.run_id)
                deleted += 1
    return deleted


def compact_sqlite_storage(instance: DagsterInstance) -> None:
    """VACUUM the instance's SQLite files so deleted run config leaves the free pages."""
    root = Path(instance.root_directory)
    for path in sorted(root.rglob("*.db")):
        with closing(sqlite3.connect(path, timeout=30)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
