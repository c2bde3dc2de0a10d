"""Turn one request's findings into its bundle and close the request: shared by the per-request
``access_bundle`` asset and the batch run, so both give the same bundle and the same ledger record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from connectors.base import Findings
from dsr.bundle import BundleRequest, build_bundle, verify_bundle
from dsr.faults import crash_point
from dsr.ledger import Ledger, RequestRecord, State
from pipelines.assets.services import NOT_CONNECTED, ServiceSearch
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.exports import ExportStoreResource
from resources.ledger import LedgerResource


@dataclass
class IssuedBundle:
    path: str
    sha256: str
    files: int
    store: str
    rows_per_system: dict[str, int]
    mentions_per_system: dict[str, int]


def flatten(values: Iterable[Findings | ServiceSearch]) -> tuple[list[Findings], dict[str, str]]:
    """CRM findings and every service account's findings; services nobody connected, named."""
    findings: list[Findings] = []
    not_searched: dict[str, str] = {}
    for value in values:
        if isinstance(value, ServiceSearch):
            findings += value.findings
            if value.status == NOT_CONNECTED:
                not_searched[value.system] = "not connected by the Clients this request reaches"
        else:
            findings.append(value)
    return findings, not_searched


def issue_bundle(
    record: RequestRecord,
    values: Iterable[Findings | ServiceSearch],
    *,
    led: Ledger,
    ledger: LedgerResource,
    exports: ExportStoreResource,
    crm: CrmDatabasesResource,
    backups: BackupsResource,
) -> IssuedBundle:
    """Build, self-verify and store the bundle, then mark the request fulfilled (one record)."""
    findings, not_searched = flatten(values)
    identities = set().union(*(f.identities for f in findings if f.system == "crm"))
    held_in = [
        {"backup_id": b.backup_id, "region": b.region, "expires_at": b.expires_at.isoformat()}
        for b in backups.store().holding(identities)
    ]
    store, out_dir = exports.dir_for(f.region for f in findings if f.rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = build_bundle(
        BundleRequest.of(record),
        findings,
        {"crm": crm.datamap()},
        ledger.key_ring(),
        out_dir,
        not_searched=not_searched,
        backups=held_in,
    )
    crash_point("bundle_written")
    report = verify_bundle(result.path, ledger.key_ring().public_key_pem())
    if not report.ok:
        raise RuntimeError("the bundle failed its own verification: " + "; ".join(report.problems))
    led.transition(
        record.request_id,
        State.FULFILLED,
        result={
            "bundle": str(result.path),
            "bundle_sha256": result.sha256,
            "store": store,
            "rows_per_system": result.rows_per_system,
            "mentions_per_system": result.mentions_per_system,
            "not_searched": not_searched,
            "backups_holding": [b["backup_id"] for b in held_in],
        },
    )
    crash_point("fulfilled")
    return IssuedBundle(
        str(result.path),
        result.sha256,
        result.files,
        store,
        result.rows_per_system,
        result.mentions_per_system,
    )
