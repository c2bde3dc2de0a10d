"""Every retention purge, in the order a daily run takes them, and the one way to run one.

A real purge runs under the lease ``retention:<name>`` in the ledger database, whoever starts
it (the Dagster job or ``dsr purge``): two purges of the same kind never overlap, so a second
one cannot take over the first's in-progress work. A dry run changes nothing and takes no lease.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dsr.ledger.leases import LeaseHeld, Leases, process_holder
from dsr.retention.billing import purge_expired_rows
from dsr.retention.bundles import purge_expired_bundles
from dsr.retention.purges import PurgeContext, PurgeOutcome
from dsr.retention.tenants import purge_closed_clients
from dsr.retention.users import queue_closed_users

# Tenants before users: a closed Client's Users are its purge's, not a request each.
PURGES: dict[str, Callable[[PurgeContext], PurgeOutcome]] = {
    "closed_clients": purge_closed_clients,
    "closed_users": queue_closed_users,
    "billing": purge_expired_rows,
    "export_bundles": purge_expired_bundles,
}

# Far longer than the largest purge takes; a holder that crashed blocks its kind this long.
PURGE_LEASE_TTL = timedelta(hours=6)


def lease_name(name: str) -> str:
    return f"retention:{name}"


class PurgeRefused(Exception):
    """Another holder is running this purge; this one did not start and changed nothing."""

    def __init__(self, name: str, held: LeaseHeld) -> None:
        self.name = name
        self.held = held
        super().__init__(
            f"{name}: not run, nothing changed: {held}; it runs once that one ends (a crashed "
            f"holder's lease is taken over when it expires)"
        )


@dataclass
class RefusedPurge(PurgeOutcome):
    """The outcome of a purge that did not run because another holder was running it; its one
    failure is why."""

    @property
    def reason(self) -> str:
        return self.failures[0]

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "refused": self.reason}


def run_purge(name: str, ctx: PurgeContext, holder: str) -> PurgeOutcome:
    """Run one purge; a real one under its lease, else ``PurgeRefused``. ``holder`` names the
    run or process (``dagster run <id>``, ``dsr purge (pid N on host H)``), never a person."""
    if name not in PURGES:
        raise ValueError(f"unknown purge {name}; expected {', '.join(PURGES)}")
    if ctx.dry_run:
        return PURGES[name](ctx)
    try:
        lease = Leases(ctx.ledger.engine).acquire(lease_name(name), holder, PURGE_LEASE_TTL)
        with lease:
            return PURGES[name](ctx)
    except LeaseHeld as exc:
        raise PurgeRefused(name, exc) from None


def run_purges(
    ctx: PurgeContext, only: Sequence[str] | None = None, holder: str | None = None
) -> list[PurgeOutcome]:
    """The purges named in ``only`` (default all), in order; one refused does not stop the rest
    and comes back as a ``RefusedPurge`` (not ok)."""
    unknown = sorted(set(only or ()) - set(PURGES))
    if unknown:
        raise ValueError(f"unknown purge {', '.join(unknown)}; expected {', '.join(PURGES)}")
    who = holder or process_holder("retention purge")
    outcomes: list[PurgeOutcome] = []
    for name in PURGES:
        if only and name not in only:
            continue
        try:
            outcomes.append(run_purge(name, ctx, who))
        except PurgeRefused as exc:
            outcomes.append(RefusedPurge(name, False, failures=[str(exc)]))
    return outcomes
