"""An erasure deletes the person's earlier export bundles (``pipelines.erasure_cleanup``); the
``access_bundle`` partitions of those requests must then say so, or the asset graph keeps showing
a bundle, and its passed check, that no longer exists."""

from __future__ import annotations

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    MetadataValue,
)

from dsr.ledger import Ledger
from pipelines.checks import BUNDLE_CHECK

BUNDLE_ASSET = AssetKey("access_bundle")
BUNDLE_DELETED = "bundle_deleted"  # the audit event the clean-up writes per deleted bundle


def bundles_deleted_by(led: Ledger, erasure_id: str) -> list[str]:
    """Request ids whose bundle this erasure deleted, from the audit log (so a resumed run that
    finds the clean-up already done still reports them)."""
    subject = led.get(erasure_id).subject_hash
    related = [r.request_id for r in led.requests_of_subject(subject)]
    return [
        rid
        for rid in related
        if rid != erasure_id
        and any(
            e.event == BUNDLE_DELETED and e.details.get("by_erasure") == erasure_id
            for e in led.audit_entries(rid)
        )
    ]


def observe_deleted_bundles(context: AssetExecutionContext, led: Ledger, erasure_id: str) -> None:
    for event in deleted_bundle_events(led, erasure_id, context.run.run_id):
        context.log_event(event)


def deleted_bundle_events(
    led: Ledger, erasure_id: str, run_id: str
) -> list[AssetObservation | AssetCheckEvaluation]:
    """For each bundle the erasure deleted: an observation saying so, and its check's result."""
    events: list[AssetObservation | AssetCheckEvaluation] = []
    for request_id in bundles_deleted_by(led, erasure_id):
        events.append(
            AssetObservation(
                asset_key=BUNDLE_ASSET,
                partition=request_id,
                description=f"Deleted by erasure {erasure_id}",
                metadata={
                    "status": "deleted",
                    "deleted_by_erasure": erasure_id,
                    "erasure_run": MetadataValue.dagster_run(run_id),
                },
            )
        )
        # The check's last word must not stay "passed" for a bundle that is gone: it fails,
        # as a warning (the deletion is what the erasure promised), saying why.
        events.append(
            AssetCheckEvaluation(
                asset_key=BUNDLE_ASSET,
                check_name=BUNDLE_CHECK,
                passed=False,
                severity=AssetCheckSeverity.WARN,
                partition=request_id,
                description=f"No bundle to check: deleted by erasure {erasure_id}",
                metadata={"problem": "bundle deleted by erasure", "deleted_by_erasure": erasure_id},
            )
        )
    return events
