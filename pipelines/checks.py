"""Checks an engineer sees beside the assets: is each bundle what its manifest says?"""

from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    asset_check,
)

from dsr.bundle import verify_bundle
from pipelines.partitions import partitions_for
from resources.ledger import LedgerResource

# The check on every erasure asset (CRM regions and services), one result per request.
VERIFIED_CHECK = "nothing_left_that_should_not_be"
BUNDLE_CHECK = "access_bundle_matches_manifest"


@asset_check(
    name=BUNDLE_CHECK,
    asset="access_bundle",
    partitions_def=partitions_for("access"),
    blocking=True,
    description="Every file in the bundle matches the SHA-256 in its manifest, and the manifest "
    "signature verifies with our public key.",
)
def access_bundle_matches_manifest(
    context: AssetCheckExecutionContext, ledger: LedgerResource
) -> AssetCheckResult:
    record = ledger.ledger().get(context.partition_key)
    bundle = (record.result or {}).get("bundle")
    if not bundle or not Path(bundle).exists():
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            metadata={"problem": "no bundle recorded for this request"},
        )
    report = verify_bundle(Path(bundle), ledger.key_ring().public_key_pem())
    return AssetCheckResult(
        passed=report.ok,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "files_checked": report.files_checked,
            "signature": report.signature,
            "problems": "; ".join(report.problems) or "none",
        },
    )
