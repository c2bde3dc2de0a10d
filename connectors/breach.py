"""Breach impact: whose data was in these tables in that window, grouped by who must notify.

Policy 11 and GDPR Art. 33/34: after a breach the controller notifies the people affected. For
Client Data iNextCRM is processor, so each Client gets the list of *its* people to notify
(Art. 33(2)); for the tables iNextCRM controls, iNextCRM notifies its own Users, subscribers and
visitors itself.

1. ``breach_rows.rows_in_window`` reads each breached table's rows present before the window's
   end and says whom each row is about (identity columns, the row it belongs to, e-mail
   addresses and phones written in its free text).
2. Rows are grouped by who notifies: a Client table's rows by region and tenant, iNextCRM's
   tables together.
3. Each group's identities are resolved with the same discovery as a request
   (``CrmSqlConnector.resolve`` inside the tenant for Client Data, ``resolve_across`` the regions
   for iNextCRM's tables), then people sharing any identity other than a name are merged: a
   person with two e-mail addresses, or a contact and her notes, count once.

What the live databases cannot say: rows deleted since the window (by a Client, or by an erasure)
exist only in backups. They are not restored here: a restore would bring back people who asked to
be erased, whose copies must stay beyond use (policy 12). Instead the impact names the backups
taken inside the window, how many rows of each breached table they held that the live database no
longer has, and how many erasures ran since the window began; to identify those people an
operator restores the backup (``dsr restore-backup``, which re-applies the erasures) and runs the
query against it.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from connectors.backup_store import BackupStore
from connectors.base import EMAIL, NAME, PHONE, Identity
from connectors.breach_backups import BackupGap, backup_gaps
from connectors.breach_rows import Known, Seeds, WindowRow, rows_in_window
from connectors.breach_window import BreachQuery
from connectors.crm_sql import CrmSqlConnector, resolve_across
from connectors.datamap import DataMap, DataMapError
from connectors.sql_helpers import typed_value
from connectors.tombstones import Tombstones

INEXTCRM = "inextcrm"
Progress = Callable[[str, int, int], None]


@dataclass(slots=True)
class AffectedPerson:
    """One person whose data was exposed. Personal by design: it lives only in the report."""

    emails: list[str]
    phones: list[str]
    names: list[str]
    other_ids: dict[str, list[str]]
    rows: dict[str, int]  # "region:table" -> rows that are this person's records
    mentions: dict[str, int]  # "region:table" -> rows of others whose free text names them
    regions: list[str]
    clients: list[str] = field(default_factory=list)  # tenants of their rows (a User's Client)

    @property
    def contactable(self) -> bool:
        return bool(self.emails or self.phones)

    def tables(self) -> set[str]:
        return {key.split(":", 1)[1] for key in (*self.rows, *self.mentions)}


@dataclass
class ClientImpact:
    region: str
    client_id: str  # "" when a row named no tenant
    name: str | None
    contact: str | None
    people: list[AffectedPerson]
    rows: dict[str, int]  # table -> rows in the window


@dataclass
class BreachImpact:
    breach_id: str
    query: BreachQuery
    generated_at: datetime
    clients: list[ClientImpact]
    inextcrm: list[AffectedPerson]
    rows: dict[str, dict[str, int]]  # region -> table -> rows in the window
    unattributed: dict[str, dict[str, int]]  # region -> table -> rows naming nobody
    untimed_tables: list[str]  # breached tables without recorded_at: every row counted
    inextcrm_rows: dict[str, int] = field(default_factory=dict)  # table -> rows in the window
    backups: list[BackupGap] = field(default_factory=list)
    erasures_since: int = 0

    @property
    def people_total(self) -> int:
        return sum(len(c.people) for c in self.clients) + len(self.inextcrm)

    def regions_with_data(self) -> list[str]:
        return sorted(r for r, tables in self.rows.items() if any(tables.values()))

    def counts(self) -> dict[str, Any]:
        """Everything a log, Dagster metadata or the audit log may hold: ids and counts only."""
        people_by_table: dict[str, Counter[str]] = defaultdict(Counter)
        for person in self._everyone():
            for key in {*person.rows, *person.mentions}:
                region, table = key.split(":", 1)
                people_by_table[region][table] += 1
        return {
            "breach_id": self.breach_id,
            "tables": list(self.query.tables),
            "regions": list(self.query.regions),
            **self.query.window.iso(),
            "people": self.people_total,
            "clients_affected": len(self.clients),
            "client_people": sum(len(c.people) for c in self.clients),
            "inextcrm_people": len(self.inextcrm),
            "inextcrm_users": sum(1 for p in self.inextcrm if p.other_ids.get("user_id")),
            "inextcrm_rows": sum(self.inextcrm_rows.values()),
            "not_contactable": sum(1 for p in self._everyone() if not p.contactable),
            "per_client": [
                {
                    "region": c.region,
                    "client_id": c.client_id,
                    "people": len(c.people),
                    "rows": sum(c.rows.values()),
                }
                for c in self.clients
            ],
            "rows": {r: dict(t) for r, t in self.rows.items()},
            "people_per_table": {r: dict(c) for r, c in sorted(people_by_table.items())},
            "unattributed_rows": {r: dict(t) for r, t in self.unattributed.items() if t},
            "untimed_tables": list(self.untimed_tables),
            "backups_in_window": [
                {"backup_id": b.backup_id, "missing_rows": sum(b.missing_rows.values())}
                for b in self.backups
            ],
            "erasures_since": self.erasures_since,
        }

    def _everyone(self) -> Iterable[AffectedPerson]:
        for client in self.clients:
            yield from client.people
        yield from self.inextcrm


def new_breach_id(now: datetime) -> str:
    return f"breach-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


# -- grouping and resolution -----------------------------------------------------------------


@dataclass(slots=True)
class _Subject:
    # One per distinct identity set: at a million rows, every byte here counts (no empty sets).
    seeds: Seeds
    rows: dict[str, int] | None = None
    mentions: dict[str, int] | None = None
    tenants: frozenset[str] = frozenset()


def _tally(counts: dict[str, int] | None, key: str) -> dict[str, int]:
    counts = {} if counts is None else counts
    counts[key] = counts.get(key, 0) + 1
    return counts


@dataclass
class _Group:
    """The rows one notifier answers for: a Client's tenant in a region, or iNextCRM."""

    subjects: dict[frozenset[Identity], _Subject] = field(default_factory=dict)
    rows: Counter[str] = field(default_factory=Counter)

    def add(self, key: frozenset[Identity], names: frozenset[Identity]) -> _Subject:
        subject = self.subjects.get(key)
        if subject is None:
            subject = self.subjects[key] = _Subject(Seeds(key, names))
        elif names - subject.seeds.names:
            subject.seeds = subject.seeds | Seeds(frozenset(), names)
        return subject


GroupKey = tuple[str, str, str]  # ("client", region, tenant) | ("inextcrm", "", "")


def _group_key(datamap: DataMap, row: WindowRow) -> GroupKey:
    if datamap.tables[row.table].controller == "client":
        return ("client", row.region, row.tenant or "")
    return (INEXTCRM, "", "")


def _collect(
    rows: Iterable[WindowRow],
    datamap: DataMap,
    groups: dict[GroupKey, _Group],
    totals: dict[str, Counter[str]],
    unattributed: dict[str, Counter[str]],
) -> None:
    for row in rows:
        where = f"{row.region}:{row.table}"
        totals[row.region][row.table] += 1
        group = groups.setdefault(_group_key(datamap, row), _Group())
        group.rows[row.table] += 1
        if row.own:
            subject = group.add(row.own.ids, row.own.names)
            subject.rows = _tally(subject.rows, where)
            if row.tenant and row.tenant not in subject.tenants:
                subject.tenants = subject.tenants | {row.tenant}
        for ident in row.mentioned - row.own.ids:
            subject = group.add(frozenset({ident}), frozenset())
            subject.mentions = _tally(subject.mentions, where)
        if not row.own and not row.mentioned:
            unattributed[row.region][row.table] += 1


def _resolve(
    key: GroupKey, group: _Group, by_region: dict[str, CrmSqlConnector]
) -> list[set[Identity]]:
    subjects = {str(i): set(s.seeds.ids) for i, s in enumerate(group.subjects.values())}
    kind, region, tenant = key
    if kind == INEXTCRM:
        resolved = resolve_across(by_region.values(), subjects, scope="user_account")
    elif tenant:
        resolved = by_region[region].resolve(subjects, scope="client_data", client_id=tenant)
    else:
        # A Client row naming no tenant: no tenant to stay inside, so nothing is widened.
        resolved = subjects
    return [resolved[str(i)] for i in range(len(subjects))]


def _merge(group: _Group, resolved: list[set[Identity]]) -> list[AffectedPerson]:
    """People sharing any identity but a name are one person (union-find over identities)."""
    parent = list(range(len(resolved)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[Identity, int] = {}
    for i, idents in enumerate(resolved):
        for ident in idents:
            if ident.kind == NAME:
                continue
            j = first.setdefault(ident, i)
            if j != i:
                parent[find(i)] = find(j)
    clusters: dict[int, list[int]] = defaultdict(list)
    for i in range(len(resolved)):
        clusters[find(i)].append(i)
    subjects = list(group.subjects.values())
    people = [
        _person([subjects[i] for i in members], resolved, members) for members in clusters.values()
    ]
    return sorted(people, key=_person_order)


def _person(
    subjects: list[_Subject], resolved: list[set[Identity]], members: list[int]
) -> AffectedPerson:
    idents: set[Identity] = set()
    rows: Counter[str] = Counter()
    mentions: Counter[str] = Counter()
    tenants: set[str] = set()
    for subject, i in zip(subjects, members, strict=True):
        idents |= resolved[i] | subject.seeds.ids | subject.seeds.names
        rows.update(subject.rows or {})
        mentions.update(subject.mentions or {})
        tenants |= subject.tenants
    regions = {key.split(":", 1)[0] for key in (*rows, *mentions)}
    by_kind: dict[str, list[str]] = defaultdict(list)
    for ident in sorted(idents):
        by_kind[ident.kind].append(ident.value)
    emails, phones, names = by_kind.pop(EMAIL, []), by_kind.pop(PHONE, []), by_kind.pop(NAME, [])
    return AffectedPerson(
        emails=emails,
        phones=phones,
        names=names,
        other_ids=dict(sorted(by_kind.items())),
        rows=dict(sorted(rows.items())),
        mentions=dict(sorted(mentions.items())),
        regions=sorted(regions),
        clients=sorted(tenants),
    )


def _person_order(p: AffectedPerson) -> tuple:
    return (p.emails[:1] or ["~"], p.phones[:1] or ["~"], sorted(p.other_ids.items()))


# -- Clients --------------------------------------------------------------------------------


def _client_details(
    connector: CrmSqlConnector, tenants: list[str]
) -> dict[str, tuple[str | None, str | None]]:
    spec = connector.datamap.tenants
    if spec is None or not tenants:
        return {}
    table = connector.table(spec.table)
    for col in (spec.id_column, spec.name_column, spec.contact_column):
        if col and col not in table.c:
            raise DataMapError(
                f"{connector.datamap.source_path}: tenants: column {col!r} is not in table "
                f"{spec.table!r} ({connector.region})"
            )
    id_col = table.c[spec.id_column]
    cols = [id_col]
    cols += [table.c[c] for c in (spec.name_column, spec.contact_column) if c]
    typed = [v for v in (typed_value(id_col, t) for t in tenants) if v is not None]
    out: dict[str, tuple[str | None, str | None]] = {}
    with connector.engine.connect() as conn:
        for row in conn.execute(select(*cols).where(id_col.in_(typed))).mappings():
            name = row[spec.name_column] if spec.name_column else None
            contact = row[spec.contact_column] if spec.contact_column else None
            out[str(row[spec.id_column])] = (name, contact)
    return out


def _clients(
    connector: CrmSqlConnector,
    groups: dict[GroupKey, _Group],
    by_region: dict[str, CrmSqlConnector],
) -> list[ClientImpact]:
    details = _client_details(connector, [tenant for _, _, tenant in groups if tenant])
    out = []
    for key, group in sorted(groups.items()):
        people = _merge(group, _resolve(key, group, by_region)) if group.subjects else []
        group.subjects.clear()  # only the people are needed from here on
        _, region, tenant = key
        name, contact = details.get(tenant, (None, None))
        rows = dict(sorted(group.rows.items()))
        out.append(ClientImpact(region, tenant, name, contact, people, rows))
    return out


# -- the whole assessment --------------------------------------------------------------------


def assess(
    connectors: Iterable[CrmSqlConnector],
    query: BreachQuery,
    *,
    now: datetime | None = None,
    backups: BackupStore | None = None,
    tombstones: Tombstones | None = None,
    progress: Progress | None = None,
) -> BreachImpact:
    """The people whose data was in ``query.tables`` during the window, per Client and iNextCRM."""
    by_region = {c.region: c for c in connectors if c.region in query.regions}
    missing = [r for r in query.regions if r not in by_region]
    if missing:
        raise DataMapError(f"no CRM connector for region(s) {', '.join(missing)}")
    datamap = next(iter(by_region.values())).datamap
    for connector in by_region.values():
        connector.validate()
    now = now or datetime.now(UTC)
    totals: dict[str, Counter[str]] = {r: Counter() for r in query.regions}
    unattributed: dict[str, Counter[str]] = {r: Counter() for r in query.regions}
    # iNextCRM's people span regions; a Client's tenant lives in one region, so each region's
    # Clients are resolved (and their rows let go) before the next region is read.
    own_key: GroupKey = (INEXTCRM, "", "")
    own = _Group()
    clients: list[ClientImpact] = []
    owners_first = [t for t in datamap.traversal_order() if t in query.tables]
    for n, (region, connector) in enumerate(by_region.items()):
        groups: dict[GroupKey, _Group] = {own_key: own}
        known: Known = {}
        for name in owners_first:
            rows = rows_in_window(connector, name, query.window.until, known)
            _collect(rows, datamap, groups, totals, unattributed)
            totals[region].setdefault(name, 0)
        del groups[own_key]
        known.clear()
        if progress:
            progress(f"{region}: rows read", n + 1, len(by_region))
        clients += _clients(connector, groups, by_region)
        if progress:
            progress(f"{region}: Clients' people resolved", n + 1, len(by_region))
    inextcrm = _merge(own, _resolve(own_key, own, by_region)) if own.subjects else []
    own.subjects.clear()
    if progress:
        progress("iNextCRM's people resolved", 1, 1)
    return BreachImpact(
        breach_id=new_breach_id(now),
        query=query,
        generated_at=now,
        clients=clients,
        inextcrm=inextcrm,
        inextcrm_rows=dict(sorted(own.rows.items())),
        rows={r: dict(sorted(t.items())) for r, t in totals.items()},
        unattributed={r: dict(sorted(t.items())) for r, t in unattributed.items()},
        untimed_tables=[t for t in query.tables if not datamap.tables[t].recorded_at],
        backups=backup_gaps(backups, by_region, query) if backups else [],
        erasures_since=len(tombstones.since(query.window.since)) if tombstones else 0,
    )
