"""What an erasure would do, computed without changing anything (`--dry-run`, Launchpad).

The whole plan: every regional CRM and every integrated service the real erasure reaches
(Google, Dropbox, GoToMeeting in the connected accounts of the Clients the person is found in).
Services are only searched (``find``), never erased. The plan is counts only: which system,
which table or kind of item, which action, how many; never a person.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connectors.base import Identity
from connectors.crm.sql import CrmSqlConnector, resolve_across
from dsr.erasure.crm import CrmEraser, ErasurePlan

if TYPE_CHECKING:
    from resources.crm import CrmDatabasesResource
    from resources.integrations import IntegrationsResource

# A service's items are erased through its API or, where the API cannot, requested from the
# service as processor: the dry run cannot tell which without trying, so it says both.
SERVICE_ACTION = "erase or request"
NOT_CONNECTED = "not connected"


@dataclass(frozen=True)
class ServicePreview:
    system: str
    status: str  # "searched" | "not connected"
    accounts: int
    items: dict[str, int] = field(default_factory=dict)  # kind of item -> found


@dataclass(frozen=True)
class DryRun:
    crm: dict[str, ErasurePlan]  # region -> plan
    services: list[ServicePreview]

    def plan(self) -> dict[str, dict[str, dict[str, int]]]:
        """system -> table or kind of item -> action -> count (``crm:<region>``, services)."""
        out = {f"crm:{region}": plan.counts() for region, plan in self.crm.items()}
        for service in self.services:
            out[service.system] = {k: {SERVICE_ACTION: n} for k, n in service.items.items()}
        return out

    def statuses(self) -> dict[str, dict[str, object]]:
        return {s.system: {"status": s.status, "accounts": s.accounts} for s in self.services}

    def markdown(self) -> str:
        """The plan as a Markdown table (the run's metadata renders it)."""
        lines = ["| system | table / items | action | count |", "|---|---|---|---|"]
        for system, tables in self.plan().items():
            for table, actions in sorted(tables.items()):
                for action, n in sorted(actions.items()):
                    lines.append(f"| {system} | {table} | {action} | {n} |")
            if not tables:
                status = next((s.status for s in self.services if s.system == system), "")
                lines.append(f"| {system} | – | {status or 'nothing found'} | 0 |")
        return "\n".join(lines)


def preview_erasure(
    connectors: Sequence[CrmSqlConnector],
    identities: set[Identity],
    *,
    scope: str,
    client_id: str | None,
    hasher: Callable[[str, str], str],
) -> dict[str, ErasurePlan]:
    """region -> the plan an erasure would carry out there, per table and action."""
    return _crm_plans(connectors, identities, scope, client_id, hasher)[0]


def _crm_plans(
    connectors: Sequence[CrmSqlConnector],
    identities: set[Identity],
    scope: str,
    client_id: str | None,
    hasher: Callable[[str, str], str],
) -> tuple[dict[str, ErasurePlan], set[Identity], dict[str, tuple[str, ...]]]:
    """The plans, the person's identities across every region, and per region the Clients
    reached (as the erasure's identity resolution computes them)."""
    key = "preview"
    resolved = resolve_across(connectors, {key: identities}, scope=scope, client_id=client_id)
    plans = {}
    tenants = {}
    for connector in connectors:
        findings = connector.find(resolved, scope=scope, client_id=client_id)[key]
        plans[connector.region] = CrmEraser(connector, hasher=hasher).plan(findings)
        reached = connector.tenants_of(resolved[key], scope=scope, client_id=client_id)
        tenants[connector.region] = tuple(sorted(reached))
    return plans, resolved[key], tenants


def preview_services(
    integrations: IntegrationsResource,
    crm: CrmDatabasesResource,
    identities: set[Identity],
    tenants: dict[str, tuple[str, ...]],
) -> list[ServicePreview]:
    """Search (never erase) every connected account of each service the erasure reaches."""
    from resources.integrations import SERVICES

    previews = []
    for kind in SERVICES:
        accounts = integrations.accounts(crm, tenants, kind)
        items: Counter[str] = Counter()
        for account in accounts:
            connector = integrations.connector(account)
            try:
                items.update(r.ref.table for r in connector.find(identities).rows)
            finally:
                close = getattr(connector, "close", None)
                if callable(close):
                    close()  # GoToMeeting keeps an HTTP client open
        status = "searched" if accounts else NOT_CONNECTED
        previews.append(ServicePreview(kind, status, len(accounts), dict(sorted(items.items()))))
    return previews


def dry_run(
    crm: CrmDatabasesResource,
    integrations: IntegrationsResource,
    identities: set[Identity],
    *,
    scope: str,
    client_id: str | None,
    hasher: Callable[[str, str], str],
    connectors: Sequence[CrmSqlConnector] | None = None,
) -> DryRun:
    """The whole plan of an erasure of ``identities``: every region, every service."""
    connectors = list(connectors) if connectors is not None else crm.connectors()
    plans, resolved, tenants = _crm_plans(connectors, identities, scope, client_id, hasher)
    return DryRun(plans, preview_services(integrations, crm, resolved, tenants))
