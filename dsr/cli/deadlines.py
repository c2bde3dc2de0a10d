"""`dsr deadlines`: the open requests that are due soon or overdue, most urgent first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from dsr.cli.output import console, emit_json, fail
from dsr.cli.session import open_ledger, require_state
from dsr.settings import Settings


def deadlines(
    days: Annotated[
        int | None,
        typer.Option(help="Warning window in days (default DSR_DEADLINE_WARN_DAYS, 5)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """List open requests due within the warning window or overdue; exit 1 if any is overdue."""
    from dsr.ledger.deadlines import Urgency, late_requests
    from dsr.ledger.records import OPEN_STATES

    settings = Settings.from_env()
    warn_days = settings.deadline_warn_days if days is None else days
    if warn_days < 0:
        fail("--days must not be negative", as_json=as_json)
    require_state(settings, as_json=as_json)
    ledger = open_ledger(settings)
    now = datetime.now(UTC)
    alerts = late_requests(ledger, now, warn_days)
    open_requests = ledger.count_requests(states=OPEN_STATES)
    overdue = sum(a.urgency is Urgency.OVERDUE for a in alerts)
    if as_json:
        emit_json(
            {
                "ok": overdue == 0,
                "checked_at": now,
                "open_requests": open_requests,
                "warn_days": warn_days,
                "alerts": [a.as_dict() for a in alerts],
            }
        )
    else:
        table = Table(title=f"{open_requests} open requests; due within {warn_days} days")
        for column in ("request_id", "type", "state", "due (UTC)", "hours left"):
            table.add_column(column)
        for a in alerts:
            style = "bold red" if a.urgency is Urgency.OVERDUE else "yellow"
            table.add_row(
                a.request_id,
                a.type,
                a.state,
                f"{a.due_at:%Y-%m-%d %H:%M}",
                str(a.hours_left),
                style=style,
            )
        console.print(table if alerts else f"No open request is due within {warn_days} days.")
    if overdue:
        raise typer.Exit(1)
