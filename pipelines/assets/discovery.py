"""Discovery assets: the person's identities across regions, then what each region holds."""

from collections import Counter
from dataclasses import dataclass, field

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Backoff,
    Jitter,
    Output,
    RetryPolicy,
    asset,
)

from connectors.base import Findings, Identity
from connectors.crm.datamap_indexes import unindexed_lookups
from connectors.crm.sql import CrmSqlConnector, Progress, resolve_across
from dsr.faults import crash_point
from dsr.ledger import RequestType
from dsr.ledger.work import RESOLVED
from pipelines.partitions import partitions_for
from pipelines.request_lease import hold_request
from pipelines.request_state import check_launchable, claim_or_fail, failing_request
from resources.crm import CrmDatabasesResource
from resources.ledger import LedgerResource

# Databases drop connections and time out; a step that talks to one retries before failing.
DB_RETRIES = 2
db_retry = RetryPolicy(
    max_retries=DB_RETRIES, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


@dataclass(frozen=True)
class ResolvedSubject:
    request_id: str
    scope: str
    client_id: str | None
    identities: frozenset[Identity]
    # region -> the Clients whose rows the person's identities reach: whose connected services
    # (Google, Dropbox, GoToMeeting) the request must reach too.
    tenants: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def find_in(self, connector: CrmSqlConnector, progress: Progress | None = None) -> Findings:
        """The person's rows and mentions in one regional CRM, within the request's scope."""
        found = connector.find(
            {self.request_id: set(self.identities)},
            scope=self.scope,
            client_id=self.client_id,
            progress=progress,
        )
        return found[self.request_id]


def _kinds(identities: set[Identity] | frozenset[Identity]) -> dict[str, int]:
    return dict(sorted(Counter(i.kind for i in identities).items()))


# Requests that change data resolve once: a later attempt works from what the first recorded.
_CHANGING = {RequestType.ERASURE, RequestType.RECTIFICATION, RequestType.OPT_OUT,
             RequestType.RESTRICTION}  # fmt: skip


def subject_asset_name(group: str) -> str:
    return f"{group}_subject_identities"


def subject_identities_asset(group: str) -> AssetsDefinition:
    """The first asset of every request kind's graph: one per kind, on its own partitions."""

    @asset(
        name=subject_asset_name(group),
        partitions_def=partitions_for(group),
        group_name=group,
        kinds={"sql"},
        description="The request's identities resolved to a fixpoint across every regional CRM "
        "(for a request that changes data, once: later attempts use the recorded resolution).",
    )
    def _subject(
        context: AssetExecutionContext, crm: CrmDatabasesResource, ledger: LedgerResource
    ) -> Output[ResolvedSubject]:
        return resolve_subject(context, crm, ledger)

    return _subject


def resolve_subject(
    context: AssetExecutionContext, crm: CrmDatabasesResource, ledger: LedgerResource
) -> Output[ResolvedSubject]:
    request_id = context.partition_key
    led = ledger.ledger()
    record = led.get(request_id)
    # The run's first words: which request and by when, so support knows they are in the right run.
    context.log.info(f"{record.type} request {request_id}, due {record.due_at:%Y-%m-%d}")
    check_launchable(record, context.job_name)
    hold_request(context, led, request_id)
    claim_or_fail(led, request_id)
    with failing_request(context, led, request_id, "identity resolution"):
        given = led.identities(request_id)
        connectors = crm.connectors()
        for connector in connectors:
            connector.validate()
        scans = [label for c in connectors for label in unindexed_lookups(c)]
        recorded = led.work.get(request_id, RESOLVED) if record.type in _CHANGING else None
        if recorded is None:
            resolved, tenants = _resolve(connectors, given, record.scope, record.client_id)
            if record.type in _CHANGING:
                # Before any change: every attempt erases (corrects, flags) exactly this person.
                recorded = led.work.put_once(request_id, RESOLVED, _as_work(resolved, tenants))
                crash_point("identities_recorded")
        if recorded is not None:
            resolved = {Identity(k, v) for k, v in recorded["identities"]}
            tenants = {r: tuple(t) for r, t in recorded["tenants"].items()}
    context.log.info(
        f"request {request_id}: {len(given)} identities given, {len(resolved)} resolved "
        f"across {len(connectors)} regions"
        + (" (the resolution recorded before its first change)" if recorded else "")
    )
    if scans:
        context.log.warning(
            f"{len(scans)} lookup(s) read a whole table, no index serves them: {', '.join(scans)}"
            " (`dsr datamap check` prints the CREATE INDEX statements)"
        )
    return Output(
        ResolvedSubject(
            request_id, str(record.scope), record.client_id, frozenset(resolved), tenants
        ),
        metadata={
            "scope": str(record.scope),
            "identities_given": _kinds(given),
            "identities_resolved": _kinds(resolved),
            "regions": [c.region for c in connectors],
            "clients_reached": sum(len(t) for t in tenants.values()),
            "lookups_without_index": scans,
            "resolution": "recorded" if recorded else "fresh",
        },
    )


def _resolve(
    connectors: list[CrmSqlConnector], given: set[Identity], scope: str, client_id: str | None
) -> tuple[set[Identity], dict[str, tuple[str, ...]]]:
    resolved = resolve_across(connectors, {"s": given}, scope=scope, client_id=client_id)["s"]
    tenants = {
        c.region: tuple(sorted(c.tenants_of(resolved, scope=scope, client_id=client_id)))
        for c in connectors
    }
    return resolved, tenants


def _as_work(resolved: set[Identity], tenants: dict[str, tuple[str, ...]]) -> dict:
    return {
        "identities": sorted([i.kind, i.value] for i in resolved),
        "tenants": {r: list(t) for r, t in tenants.items()},
    }


def crm_findings_asset(region: str) -> AssetsDefinition:
    @asset(
        name=f"crm_{region}_findings",
        partitions_def=partitions_for("access"),
        group_name="access",
        ins={"subject": AssetIn(subject_asset_name("access"))},
        retry_policy=db_retry,
        kinds={"sql"},
        description=f"What the {region} CRM database holds about the person, and where they "
        "are mentioned.",
    )
    def _findings(
        context: AssetExecutionContext,
        crm: CrmDatabasesResource,
        ledger: LedgerResource,
        subject: ResolvedSubject,
    ) -> Output[Findings]:
        led = ledger.ledger()
        with failing_request(
            context, led, subject.request_id, f"crm:{region} search", retries=DB_RETRIES
        ):
            connector = crm.connector(region)

            def progress(stage: str, done: int, total: int) -> None:
                if done == total:
                    context.log.debug(f"crm:{region} {stage}: {total} tables")

            findings = subject.find_in(connector, progress)
        context.log.info(
            f"crm:{region}: {findings.total_rows} rows in {len(findings.row_counts())} tables, "
            f"{len(findings.mentions)} mentions"
        )
        return Output(
            findings,
            metadata={
                "region": region,
                "rows": findings.total_rows,
                "rows_per_table": findings.row_counts(),
                "mentions": len(findings.mentions),
                "mentions_per_table": findings.mention_counts(),
                "tables_searched": len(findings.searched_tables),
                "tables_out_of_scope": len(findings.skipped_tables),
            },
        )

    return _findings
