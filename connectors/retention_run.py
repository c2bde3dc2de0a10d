"""Every retention purge, in the order a daily run takes them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from connectors.retention import PurgeContext, PurgeOutcome
from connectors.retention_billing import purge_expired_rows
from connectors.retention_bundles import purge_expired_bundles
from connectors.retention_tenants import purge_closed_clients
from connectors.retention_users import queue_closed_users

# Tenants before users: a closed Client's Users are its purge's, not a request each.
PURGES: dict[str, Callable[[PurgeContext], PurgeOutcome]] = {
    "closed_clients": purge_closed_clients,
    "closed_users": queue_closed_users,
    "billing": purge_expired_rows,
    "export_bundles": purge_expired_bundles,
}


def run_purges(ctx: PurgeContext, only: Sequence[str] | None = None) -> list[PurgeOutcome]:
    unknown = sorted(set(only or ()) - set(PURGES))
    if unknown:
        raise ValueError(f"unknown purge {', '.join(unknown)}; expected {', '.join(PURGES)}")
    return [purge(ctx) for name, purge in PURGES.items() if not only or name in only]
