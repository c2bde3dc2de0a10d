"""Checks an engineer sees beside the assets: is each bundle what its manifest says, and did
each erasure leave nothing it should not have?"""

from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    asset_check,
)

from dsr.bundle import verify_bundle
from pipelines.partitions import partitions_for
from resources.ledger import LedgerResource

# The check on every erasure asset (CRM regions and services), one result per request.
VERIFIED_CHECK = "nothing_left_that_should_not_be"
BUNDLE_CHECK = "access_bundle_matches_manifest"


def verified_check(asset: str, description: str) -> AssetCheckSpec:
    """The VERIFIED_CHECK of erasure asset ``asset``: blocking, so that no deletion proof is
    issued over a failed verification."""
    return AssetCheckSpec(
        VERIFIED_CHECK,
        asset=asset,
        blocking=True,
        partitions_def=partitions_for("erasure"),
        description=description,
    )


def verified_result(passed: bool, metadata: dict[str, Any]) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=VERIFIED_CHECK,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


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
