"""The whole assessment: every region, one Client at a time, people straight to the report.

1. In each region, iNextCRM's breached tables are read whole into one group (its Users,
   subscribers and visitors span the regions, so they are resolved last, across them all).
2. The region's Client tables are read one tenant at a time (``tenants``); each Client's
   rows become people (``people``) who go to the sink (the report) at once, leaving only
   counts behind. Peak memory is the largest single Client (or iNextCRM's own group): the
   caches of validated identities (``identities``) are bounded, and the Clients' one is
   emptied after each Client.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from connectors.backups.store import BackupStore
from connectors.crm.datamap import DataMapError
from connectors.crm.sql import CrmSqlConnector
from dsr.breach.backups import backup_gaps
from dsr.breach.identities import IdentityCache
from dsr.breach.model import (
    BreachImpact,
    ClientImpact,
    PeopleSink,
    PeopleTally,
    Progress,
    new_breach_id,
)
from dsr.breach.people import Group
from dsr.breach.rows import Known, rows_in_window, window_clause
from dsr.breach.tenants import client_details, client_rows, tenants_in_window
from dsr.breach.window import BreachQuery
from dsr.erasure.tenant_tombstones import TenantTombstones
from dsr.erasure.tombstones import Tombstones


def checked_regions(
    connectors: Iterable[CrmSqlConnector], query: BreachQuery
) -> dict[str, CrmSqlConnector]:
    """The query's regions' databases, checked against the data map before anything is read."""
    by_region = {c.region: c for c in connectors if c.region in query.regions}
    missing = [r for r in query.regions if r not in by_region]
    if missing:
        raise DataMapError(f"no CRM connector for region(s) {', '.join(missing)}")
    for connector in by_region.values():
        connector.validate()
        for name in query.tables:
            window_clause(connector, name, query.window.until)  # refuses a recorded_at not a time
    return by_region


class _Assessment:
    def __init__(
        self,
        by_region: dict[str, CrmSqlConnector],
        query: BreachQuery,
        sink: PeopleSink,
        caches: tuple[IdentityCache, IdentityCache],
        progress: Progress | None,
    ) -> None:
        self.query, self.sink, self.progress = query, sink, progress
        # A Client's values are asked for again while it is resolved, iNextCRM's at the very end.
        self.cache, self.own_cache = caches
        self.by_region = {r: self.cache.connector(c) for r, c in by_region.items()}
        self.own_regions = {r: self.own_cache.connector(c) for r, c in by_region.items()}
        self.datamap = next(iter(by_region.values())).datamap
        owners_first = [t for t in self.datamap.traversal_order() if t in query.tables]
        self.client_tables = [t for t in owners_first if self._is_client(t)]
        self.own_tables = [t for t in owners_first if not self._is_client(t)]
        self.totals: dict[str, Counter[str]] = {r: Counter() for r in query.regions}
        self.unattributed: dict[str, Counter[str]] = {r: Counter() for r in query.regions}
        self.tally = PeopleTally()
        self.own = Group()
        self.clients: list[ClientImpact] = []

    def _is_client(self, name: str) -> bool:
        return self.datamap.tables[name].controller == "client"

    def _tick(self, stage: str, done: int, total: int) -> None:
        if self.progress:
            self.progress(stage, done, total)

    def region(self, region: str) -> None:
        connector, until = self.by_region[region], self.query.window.until
        totals, unattributed = self.totals[region], self.unattributed[region]
        known: Known = {}
        for name in self.own_tables:
            rows = rows_in_window(connector, name, until, known, self.own_cache.normalise)
            self.own.collect(rows, totals, unattributed)
        known.clear()
        self._tick(f"{region}: iNextCRM's rows read", 1, 1)
        tenanted = [t for t in self.client_tables if self.datamap.tables[t].tenant_column]
        tenants = tenants_in_window(connector, tenanted, until)
        details = client_details(connector, tenants)
        normalise = self.cache.normalise
        rows_per_tenant = client_rows(connector, self.client_tables, until, normalise, tenants)
        for n, (tenant, rows) in enumerate(rows_per_tenant, start=1):
            self.cache.clear()
            group = Group()
            group.collect(rows, totals, unattributed)
            self._tick(f"{region}: rows read", n, len(tenants))
            if not group.rows:
                continue
            people = group.people(self.by_region, region=region, tenant=tenant)
            self._tick(f"{region}: people resolved", n, len(tenants))
            name, contact = details.get(tenant, (None, None))
            rows_seen = dict(sorted(group.rows.items()))
            client = ClientImpact(region, tenant, name, contact, len(people), rows_seen)
            self.tally.add(people)
            self.sink.client(client, people)
            self.clients.append(client)
            self._tick(f"{region}: report written", n, len(tenants))
        self.cache.clear()
        for name in self.query.tables:
            totals.setdefault(name, 0)

    def inextcrm(self) -> int:
        people = self.own.people(self.own_regions)
        self._tick("iNextCRM: people resolved", 1, 1)
        self.tally.add(people, inextcrm=True)
        self.sink.inextcrm(dict(sorted(self.own.rows.items())), people)
        self._tick("iNextCRM: report written", 1, 1)
        return len(people)


def assess(
    connectors: Iterable[CrmSqlConnector],
    query: BreachQuery,
    sink: PeopleSink,
    *,
    now: datetime | None = None,
    breach_id: str | None = None,
    backups: BackupStore | None = None,
    tombstones: Tombstones | None = None,
    progress: Progress | None = None,
    caches: tuple[IdentityCache, IdentityCache] | None = None,
) -> BreachImpact:
    """The people whose data was in ``query.tables`` during the window, per Client and iNextCRM.

    The people go to ``sink`` as each notifier's list is complete; what is returned holds counts.
    ``caches`` (the Clients', iNextCRM's) are made here unless given (the benchmark reads them).
    """
    by_region = checked_regions(connectors, query)
    now = now or datetime.now(UTC)
    caches = caches or (IdentityCache(), IdentityCache())
    run = _Assessment(by_region, query, sink, caches, progress)
    for region in run.by_region:
        run.region(region)
    inextcrm_people = run.inextcrm()
    return BreachImpact(
        breach_id=breach_id or new_breach_id(now),
        query=query,
        generated_at=now,
        clients=run.clients,
        inextcrm_people=inextcrm_people,
        inextcrm_rows=dict(sorted(run.own.rows.items())),
        rows={r: dict(sorted(t.items())) for r, t in run.totals.items()},
        unattributed={r: dict(sorted(t.items())) for r, t in run.unattributed.items()},
        untimed_tables=[t for t in query.tables if not run.datamap.tables[t].recorded_at],
        tally=run.tally,
        backups=backup_gaps(backups, by_region, query) if backups else [],
        erasures_since=len(tombstones.since(query.window.since)) if tombstones else 0,
        purged_clients=_purged_clients(tombstones, run.by_region, query) if tombstones else [],
    )


def _purged_clients(
    tombstones: Tombstones, regions: Iterable[str], query: BreachQuery
) -> list[dict[str, str]]:
    purges = TenantTombstones(tombstones.engine)
    return [
        {"region": region, "client_id": stone.client_id, "request_id": stone.request_id}
        for region in sorted(regions)
        for stone in purges.since(query.window.since, region)
    ]
