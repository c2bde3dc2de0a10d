"""Breach impact: whose data was in these tables in that window, grouped by who must notify.

Policy 11 and GDPR Art. 33/34: after a breach the controller notifies the people affected. For
Client Data iNextCRM is processor, so each Client gets the list of *its* people to notify
(Art. 33(2)); for the tables iNextCRM controls, iNextCRM notifies its own Users, subscribers and
visitors itself.

The assessment (``dsr.breach.assess``) reads each region one Client at a time
(``tenants``, ``rows``), resolves that Client's people with the same discovery as a
request (``people``) and hands them straight to the report (``report``): memory
holds the largest single Client, not everyone. This module is what is left afterwards — the
model, with counts only, that logs, Dagster metadata and the audit log may carry.

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
from typing import Any, Protocol

from dsr.breach.backups import BackupGap
from dsr.breach.window import BreachQuery

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
    people_count: int  # the people themselves went to the report
    rows: dict[str, int]  # table -> rows in the window


class PeopleSink(Protocol):
    """Where resolved people go as soon as a notifier's list is complete (the report)."""

    def client(self, client: ClientImpact, people: list[AffectedPerson]) -> None: ...

    def inextcrm(self, rows: dict[str, int], people: list[AffectedPerson]) -> None: ...


@dataclass
class PeopleTally:
    """What the people add up to, kept while they stream past to the report: counts only."""

    not_contactable: int = 0
    inextcrm_users: int = 0
    per_table: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, people: Iterable[AffectedPerson], *, inextcrm: bool = False) -> None:
        for person in people:
            self.not_contactable += not person.contactable
            if inextcrm and person.other_ids.get("user_id"):
                self.inextcrm_users += 1
            for key in {*person.rows, *person.mentions}:
                region, table = key.split(":", 1)
                self.per_table[region][table] += 1


@dataclass
class BreachImpact:
    breach_id: str
    query: BreachQuery
    generated_at: datetime
    clients: list[ClientImpact]
    inextcrm_people: int
    rows: dict[str, dict[str, int]]  # region -> table -> rows in the window
    unattributed: dict[str, dict[str, int]]  # region -> table -> rows naming nobody
    untimed_tables: list[str]  # breached tables without recorded_at: every row counted
    inextcrm_rows: dict[str, int] = field(default_factory=dict)  # table -> rows in the window
    tally: PeopleTally = field(default_factory=PeopleTally)
    backups: list[BackupGap] = field(default_factory=list)
    erasures_since: int = 0
    # Closed Clients whose tenant was purged since the window began: their rows are gone, so
    # they are in no list, yet as their processor we still owe them the notice.
    purged_clients: list[dict[str, str]] = field(default_factory=list)

    @property
    def client_people(self) -> int:
        return sum(c.people_count for c in self.clients)

    @property
    def people_total(self) -> int:
        return self.client_people + self.inextcrm_people

    def regions_with_data(self) -> list[str]:
        return sorted(r for r, tables in self.rows.items() if any(tables.values()))

    def counts(self) -> dict[str, Any]:
        """Everything a log, Dagster metadata or the audit log may hold: ids and counts only."""
        per_table = self.tally.per_table
        return {
            "breach_id": self.breach_id,
            "tables": list(self.query.tables),
            "regions": list(self.query.regions),
            **self.query.window.iso(),
            "people": self.people_total,
            "clients_affected": len(self.clients),
            "client_people": self.client_people,
            "inextcrm_people": self.inextcrm_people,
            "inextcrm_users": self.tally.inextcrm_users,
            "inextcrm_rows": sum(self.inextcrm_rows.values()),
            "not_contactable": self.tally.not_contactable,
            "per_client": [
                {
                    "region": c.region,
                    "client_id": c.client_id,
                    "people": c.people_count,
                    "rows": sum(c.rows.values()),
                }
                for c in self.clients
            ],
            "rows": {r: dict(t) for r, t in self.rows.items()},
            "people_per_table": {r: dict(sorted(per_table[r].items())) for r in sorted(per_table)},
            "unattributed_rows": {r: dict(t) for r, t in self.unattributed.items() if t},
            "untimed_tables": list(self.untimed_tables),
            "backups_in_window": [
                {"backup_id": b.backup_id, "missing_rows": sum(b.missing_rows.values())}
                for b in self.backups
            ],
            "erasures_since": self.erasures_since,
            "purged_clients_since": list(self.purged_clients),
        }


def new_breach_id(now: datetime) -> str:
    return f"breach-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
