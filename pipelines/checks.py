"""Checks an engineer sees beside the assets: is each bundle what its manifest says?"""

import warnings
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    PreviewWarning,
    asset_check,
)

from dsr.bundle import verify_bundle
from pipelines.partitions import request_partitions
from resources.ledger import LedgerResource

# Partitioned asset checks are "preview" in Dagster 1.13; we rely on them knowingly.
warnings.filterwarnings(
    "ignore", "Specifying a partitions_def on an AssetCheckSpec", PreviewWarning
)


@asset_check(
    asset="access_bundle",
    partitions_def=request_partitions,
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
