"""`dsr purge`: the retention purges of policy 12, now (or as of --now), or as a dry run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from dsr.cli.output import console, emit_json, errors, fail
from dsr.times import not_in_future, parse_aware

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def purge(
    dry_run: Annotated[
        bool, typer.Option(help="Show exactly what would be purged; change nothing")
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(help="Count retention from this ISO-8601 time (with zone); default: now"),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(help="closed_clients, closed_users, billing or export_bundles (repeat)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Purge closed accounts (a month after closure), billing (after 7 years) and old bundles.

    One purge of each kind runs at a time: a purge another run is doing is refused (exit 1)."""
    from connectors.crm.datamap import DataMapError
    from dsr.cli.session import Session
    from dsr.ledger.leases import process_holder
    from dsr.retention.run import PURGES, RefusedPurge, run_purges
    from pipelines.retention import purge_context_from

    unknown = sorted(set(only or ()) - set(PURGES))
    if unknown:
        fail(f"unknown purge {', '.join(unknown)}; expected {', '.join(PURGES)}", as_json=as_json)
    when = _parse(now, as_json, dry_run=dry_run)
    session = Session(as_json=as_json)
    session.connectors(as_json=as_json)  # every region reachable and fitting the map first
    _ = session.ledger  # the home (announced if new) and the ledger exist before any purge
    try:
        ctx = purge_context_from(
            session.resources,
            now=when,
            dry_run=dry_run,
            export_retention_days=session.settings.export_retention_days,
        )
        outcomes = run_purges(ctx, only, holder=process_holder("dsr purge"))
    except DataMapError as exc:
        fail(str(exc), as_json=as_json)
    ok = all(o.ok for o in outcomes)
    if as_json:
        emit_json(
            {
                "ok": ok,
                "dry_run": dry_run,
                "now": when.isoformat(),
                "purges": [o.as_dict() for o in outcomes],
                "refused": [
                    {"purge": o.purge, "reason": o.reason}
                    for o in outcomes
                    if isinstance(o, RefusedPurge)
                ],
            }
        )
    else:
        _show(outcomes, dry_run, when)
    if not ok:
        raise typer.Exit(1)


def _parse(text: str | None, as_json: bool, *, dry_run: bool) -> datetime:
    from pipelines.retention import FUTURE

    try:
        when = parse_aware(text, "--now") or datetime.now(UTC)
        if not dry_run:
            not_in_future(when, "--now", FUTURE)
    except ValueError as exc:
        fail(f"{exc}; nothing was purged", as_json=as_json)
    return when


def _show(outcomes: list, dry_run: bool, when: datetime) -> None:
    from dsr.retention.run import RefusedPurge

    verb = "would be" if dry_run else "were"
    table = Table(
        title=f"retention purge as of {when:%Y-%m-%d %H:%M} UTC" + (" (dry run)" if dry_run else "")
    )
    for name, justify in (("purge", "left"), ("region", "left"), ("table", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("action")
    table.add_column("rows", justify="right")
    for outcome in outcomes:
        for region, tables in sorted(outcome.counts.items()):
            for name, actions in sorted(tables.items()):
                for action, n in sorted(actions.items()):
                    table.add_row(outcome.purge, region, name, action, str(n))
    if table.row_count:
        console.print(table)
    else:
        console.print(f"nothing is due: no rows {verb} purged")
    for outcome in outcomes:
        waiting = 0
        for item in outcome.items:
            if item.get("status") in ("received", "in_progress"):
                waiting += 1  # queued by an earlier run; the sensor has not run it yet
            elif item.get("request_id"):
                what = item.get("proof") or "queued for the pending_requests sensor"
                console.print(f"{outcome.purge}: {item['request_id']} {item['status']}: {what}")
        if waiting:
            console.print(f"{outcome.purge}: {waiting} erasure requests queued earlier still wait")
        if isinstance(outcome, RefusedPurge):
            # One unwrapped line per refused purge: it is what an operator greps for.
            errors.print(f"[bold red]refused:[/] {outcome.reason}", soft_wrap=True)
            continue
        for failure in outcome.failures:
            errors.print(f"[bold red]failed:[/] {failure}")
