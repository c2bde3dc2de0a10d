"""What an erasure would do, computed without changing anything (`--dry-run`, Launchpad)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from connectors.base import Identity
from connectors.crm_erase import CrmEraser, ErasurePlan
from connectors.crm_sql import CrmSqlConnector, resolve_across


def preview_erasure(
    connectors: Sequence[CrmSqlConnector],
    identities: set[Identity],
    *,
    scope: str,
    client_id: str | None,
    hasher: Callable[[str, str], str],
) -> dict[str, ErasurePlan]:
    """region -> the plan an erasure would carry out there, per table and action."""
    key = "preview"
    resolved = resolve_across(connectors, {key: identities}, scope=scope, client_id=client_id)
    plans = {}
    for connector in connectors:
        findings = connector.find(resolved, scope=scope, client_id=client_id)[key]
        plans[connector.region] = CrmEraser(connector, hasher=hasher).plan(findings)
    return plans
