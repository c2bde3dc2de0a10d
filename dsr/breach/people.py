"""From a notifier's rows to its people: group by identity, resolve, merge.

A notifier is one Client's tenant in one region, or iNextCRM across the regions. Its rows are
collected into subjects (one per distinct identity set, so a contact and its notes are one
subject), each subject is resolved with the same discovery as a request
(``CrmSqlConnector.resolve`` inside the tenant for Client Data, ``resolve_across`` the regions for
iNextCRM's tables), then subjects sharing any identity other than a name are merged: a person
with two e-mail addresses, or a contact and her notes, count once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from connectors.base import EMAIL, NAME, PHONE, Identity
from connectors.crm.sql import CrmSqlConnector, resolve_across
from dsr.breach.model import AffectedPerson
from dsr.breach.rows import Seeds, WindowRow


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
class Group:
    """The rows one notifier answers for, until its people are resolved."""

    subjects: dict[frozenset[Identity], _Subject] = field(default_factory=dict)
    rows: Counter[str] = field(default_factory=Counter)

    def _add(self, key: frozenset[Identity], names: frozenset[Identity]) -> _Subject:
        subject = self.subjects.get(key)
        if subject is None:
            subject = self.subjects[key] = _Subject(Seeds(key, names))
        elif names - subject.seeds.names:
            subject.seeds = subject.seeds | Seeds(frozenset(), names)
        return subject

    def collect(
        self, rows: Iterable[WindowRow], totals: Counter[str], unattributed: Counter[str]
    ) -> None:
        """Take in rows of one region; ``totals`` and ``unattributed`` count them per table."""
        for row in rows:
            where = f"{row.region}:{row.table}"
            totals[row.table] += 1
            self.rows[row.table] += 1
            if row.own:
                subject = self._add(row.own.ids, row.own.names)
                subject.rows = _tally(subject.rows, where)
                if row.tenant and row.tenant not in subject.tenants:
                    subject.tenants = subject.tenants | {row.tenant}
            for ident in row.mentioned - row.own.ids:
                subject = self._add(frozenset({ident}), frozenset())
                subject.mentions = _tally(subject.mentions, where)
            if not row.own and not row.mentioned:
                unattributed[row.table] += 1

    def people(
        self,
        by_region: Mapping[str, CrmSqlConnector],
        *,
        region: str | None = None,
        tenant: str = "",
    ) -> list[AffectedPerson]:
        """Resolve and merge: inside ``tenant`` of ``region``, or across every region (None).

        The subjects are let go once their people exist: only the people are needed from here.
        """
        if not self.subjects:
            return []
        subjects = {str(i): set(s.seeds.ids) for i, s in enumerate(self.subjects.values())}
        if region is None:
            resolved = resolve_across(by_region.values(), subjects, scope="user_account")
        elif tenant:
            connector = by_region[region]
            resolved = connector.resolve(subjects, scope="client_data", client_id=tenant)
        else:
            # A Client row naming no tenant: no tenant to stay inside, so nothing is widened.
            resolved = subjects
        found = _merge(list(self.subjects.values()), [resolved[k] for k in subjects])
        self.subjects.clear()
        return found


def _merge(subjects: list[_Subject], resolved: list[set[Identity]]) -> list[AffectedPerson]:
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
    people = [_person(subjects, resolved, members) for members in clusters.values()]
    return sorted(people, key=_person_order)


def _person(
    subjects: list[_Subject], resolved: list[set[Identity]], members: list[int]
) -> AffectedPerson:
    idents: set[Identity] = set()
    rows: Counter[str] = Counter()
    mentions: Counter[str] = Counter()
    tenants: set[str] = set()
    for i in members:
        subject = subjects[i]
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
