"""Integrated-service assets: the same request reaches the Client's synced copies.

One asset per service and request, beside the CRM regions: search (access) or erase + verify
(erasure) in every connected account of the Clients the request reaches. A service no Client
connected is reported "not connected", never silently skipped.
"""

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Output,
    asset,
)

from connectors.base import Findings, Identity
from connectors.services import (
    PendingWithProcessor,
    ServiceConnector,
    ServiceErasure,
    ServiceVerification,
)
from dsr.erasure.attempts import record_service_erasure, service_totals
from dsr.ledger import Ledger, State
from pipelines.assets.discovery import ResolvedSubject, subject_asset_name
from pipelines.checks import verified_check, verified_result
from pipelines.partitions import partitions_for
from pipelines.request_lease import hold_request
from pipelines.request_state import failing_request
from resources.crm import CrmDatabasesResource
from resources.integrations import IntegrationsResource
from resources.ledger import LedgerResource

NOT_CONNECTED = "not connected"
# Accounts of one service are worked on concurrently, a few at a time (each connector bounds
# its own calls within the service's documented limits).
ACCOUNTS_AT_ONCE = 3


@dataclass
class ServiceSearch:
    system: str
    status: str  # "searched" | "not connected"
    accounts: list[str] = field(default_factory=list)  # account labels, never addresses
    findings: list[Findings] = field(default_factory=list)

    @property
    def items(self) -> dict[str, int]:
        return _items(self.findings)


@dataclass
class ServiceOutcome:
    system: str
    status: str  # "erased" | "nothing_found" | "not connected"
    accounts: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    erasures: list[ServiceErasure] = field(default_factory=list)
    verifications: list[ServiceVerification] = field(default_factory=list)
    account_regions: list[str] = field(default_factory=list)  # parallel to erasures
    identities_searched: int = 0
    changed: int = 0  # items every attempt deleted (service_erased entries)

    @property
    def pending(self) -> list[PendingWithProcessor]:
        return [p for e in self.erasures for p in e.pending]

    @property
    def verified(self) -> bool:
        return all(v.ok for v in self.verifications)


# What a service connector reports, in the proof's words; "already absent" changed nothing.
SERVICE_ACTIONS = {"deleted": "deleted", "attendee_removed": "redacted"}


def service_changes(erasure: ServiceErasure) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for kind, actions in erasure.applied.items():
        for action, n in actions.items():
            word = SERVICE_ACTIONS.get(action)
            if word and n:
                counts.setdefault(kind, {})[word] = counts.get(kind, {}).get(word, 0) + n
    return counts


@contextmanager
def closing_connector(connector: ServiceConnector) -> Iterator[ServiceConnector]:
    """Release a connector's HTTP client (GoToMeeting keeps one) whatever happens."""
    try:
        yield connector
    finally:
        close = getattr(connector, "close", None)
        if callable(close):
            close()


def _items(findings: list[Findings]) -> dict[str, int]:
    return dict(sorted(Counter(r.ref.table for f in findings for r in f.rows).items()))


def service_findings_asset(kind: str) -> AssetsDefinition:
    @asset(
        name=f"{kind}_findings",
        partitions_def=partitions_for("access"),
        group_name="access",
        ins={"subject": AssetIn(subject_asset_name("access"))},
        kinds={kind},
        description=f"What the Clients' connected {kind} accounts hold about the person.",
    )
    def _findings(
        context: AssetExecutionContext,
        crm: CrmDatabasesResource,
        integrations: IntegrationsResource,
        ledger: LedgerResource,
        subject: ResolvedSubject,
    ) -> Output[ServiceSearch]:
        led = ledger.ledger()
        with failing_request(context, led, subject.request_id, f"{kind} search"):
            found = search_service(
                integrations, crm, kind, subject.tenants, set(subject.identities)
            )
        context.log.info(
            f"{kind}: {found.status}; {len(found.accounts)} accounts; items {found.items}"
        )
        return Output(
            found,
            metadata={"status": found.status, "accounts": found.accounts, "items": found.items},
        )

    return _findings


def search_service(
    integrations: IntegrationsResource,
    crm: CrmDatabasesResource,
    kind: str,
    tenants: Mapping[str, Sequence[str]],
    identities: set[Identity],
) -> ServiceSearch:
    """Search every connected ``kind`` account of the Clients reached, a few at a time."""
    accounts = integrations.accounts(crm, tenants, kind)

    def search(account):  # type: ignore[no-untyped-def]
        with closing_connector(integrations.connector(account)) as connector:
            return connector.find(identities)

    with ThreadPoolExecutor(ACCOUNTS_AT_ONCE) as pool:
        findings = list(pool.map(search, accounts))
    status = "searched" if accounts else NOT_CONNECTED
    return ServiceSearch(kind, status, [a.label for a in accounts], findings)


def erase_service(
    integrations: IntegrationsResource,
    crm: CrmDatabasesResource,
    kind: str,
    tenants: Mapping[str, Sequence[str]],
    identities: set[Identity],
    *,
    led: Ledger,
    request_id: str,
    attempt: str,
    subject_ref: str,
) -> ServiceOutcome:
    """Erase and re-search in every connected ``kind`` account of the Clients reached; each
    account's deletions are audited as soon as they are done (``dsr.erasure.attempts``)."""
    accounts = integrations.accounts(crm, tenants, kind)

    def erase(account):  # type: ignore[no-untyped-def]
        with closing_connector(integrations.connector(account, subject_ref=subject_ref)) as con:
            done = con.erase(con.find(identities), identities)
            # At once: a later failure must not leave these deletions uncounted.
            changes = service_changes(done)
            record_service_erasure(
                led, request_id, kind, account.label, account.region, attempt, changes
            )
            return done, con.verify(identities)

    with ThreadPoolExecutor(ACCOUNTS_AT_ONCE) as pool:
        results = list(pool.map(erase, accounts))
    every = service_totals(led, request_id, kind)
    changed = sum(n for by in every.values() for a in by.values() for n in a.values())
    return ServiceOutcome(
        system=kind,
        status=NOT_CONNECTED if not accounts else ("erased" if changed else "nothing_found"),
        accounts=[a.label for a in accounts],
        regions=sorted({a.region for a in accounts}),
        erasures=[e for e, _ in results],
        verifications=[v for _, v in results],
        account_regions=[a.region for a in accounts],
        identities_searched=len(identities),
        changed=changed,
    )


def service_erasure_asset(kind: str) -> AssetsDefinition:
    name = f"{kind}_erasure"

    @asset(
        name=name,
        partitions_def=partitions_for("erasure"),
        group_name="erasure",
        ins={"subject": AssetIn(subject_asset_name("erasure"))},
        kinds={kind},
        check_specs=[
            verified_check(name, "A fresh search finds nothing the service's API could erase.")
        ],
        description=f"Pass the erasure on to the connected {kind} accounts (GDPR Art. 19); "
        "what the API cannot erase is requested from the processor.",
    )
    def _erase(
        context: AssetExecutionContext,
        crm: CrmDatabasesResource,
        integrations: IntegrationsResource,
        ledger: LedgerResource,
        subject: ResolvedSubject,
    ) -> Iterator[Output[ServiceOutcome] | AssetCheckResult]:
        led = ledger.ledger()
        subject_ref = led.get(subject.request_id).subject_hash[:16]
        hold_request(context, led, subject.request_id)
        with failing_request(context, led, subject.request_id, f"{kind} erasure"):
            outcome = erase_service(
                integrations,
                crm,
                kind,
                subject.tenants,
                set(subject.identities),
                led=led,
                request_id=subject.request_id,
                attempt=context.run.run_id,
                subject_ref=subject_ref,
            )
        status = outcome.status
        changed = outcome.changed
        if not outcome.verified:
            led.transition(
                subject.request_id,
                State.FAILED,
                reason=f"{kind}: items its API could erase are still found after erasure",
            )
        context.log.info(
            f"{kind}: {status}; {changed} items changed; {len(outcome.pending)} requested from "
            "the processor"
        )
        yield Output(
            outcome,
            metadata={
                "status": status,
                "accounts": outcome.accounts,
                "changed": changed,
                "pending_with_processor": len(outcome.pending),
            },
        )
        remaining = sum(sum(v.remaining.values()) for v in outcome.verifications)
        yield verified_result(outcome.verified, {"remaining": remaining})

    return _erase
