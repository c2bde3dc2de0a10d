"""`dsr requests` and `dsr backups`: what is in the ledger and the backup store, never who.

Both only read, so neither imports Dagster nor the service SDKs: they answer at once even with a
backlog (issue 11). A request is shown by its id, kind, state and dates; the person's identities
are not in the listing's reach (the ledger keeps them encrypted in another table).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from dsr.cli.options import JsonOpt
from dsr.cli.output import console, emit_json, fail
from dsr.cli.session import open_ledger, require_state
from dsr.request_kinds import RequestType, State
from dsr.settings import Settings

StatesOpt = Annotated[
    list[State] | None,
    typer.Option("--state", help="Only requests in this state (repeatable)", case_sensitive=False),
]
TypesOpt = Annotated[
    list[RequestType] | None,
    typer.Option("--type", help="Only requests of this kind (repeatable)", case_sensitive=False),
]
DueWithinOpt = Annotated[
    int | None,
    typer.Option(
        "--due-within",
        min=0,
        help="Only requests due within this many days from now (overdue ones included)",
    ),
]
LimitOpt = Annotated[
    int, typer.Option(min=1, help="Show at most this many (the soonest due first)")
]


def list_requests(
    state: StatesOpt = None,
    type: TypesOpt = None,
    due_within: DueWithinOpt = None,
    limit: LimitOpt = 1000,
    as_json: JsonOpt = False,
) -> None:
    """List requests by id, kind, state and due date, soonest due first (never identities)."""
    settings = Settings.from_env()
    require_state(settings, as_json=as_json)
    now = datetime.now(UTC)
    due_by = now + timedelta(days=due_within) if due_within is not None else None
    records = open_ledger(settings).find_requests(
        states=state, types=type, due_by=due_by, limit=limit + 1
    )
    more = len(records) > limit
    records = records[:limit]
    rows = [
        {
            "request_id": r.request_id,
            "type": str(r.type),
            "scope": str(r.scope),
            "state": str(r.state),
            "channel": r.channel,
            "client_id": r.client_id,
            "received_at": r.received_at,
            "due_at": r.due_at,
            "overdue": r.state in (State.RECEIVED, State.IN_PROGRESS, State.FAILED)
            and r.due_at < now,
        }
        for r in records
    ]
    if as_json:
        emit_json({"ok": True, "listed_at": now, "requests": rows, "more": more})
        return
    if not rows:
        console.print("No request matches.")
        return
    table = Table(title=f"{len(rows)} requests" + (f" (first {limit}; more match)" if more else ""))
    table.box = box.SIMPLE_HEAD
    for column in ("request_id", "type", "scope", "state", "due (UTC)"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            row["request_id"],
            row["type"],
            row["scope"],
            row["state"],
            f"{row['due_at']:%Y-%m-%d %H:%M}",
            style="bold red" if row["overdue"] else None,
        )
    console.print(table)


def list_backups(
    region: Annotated[str | None, typer.Option(help="Only this region's backups")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List backups, newest last: id, region, when each expires, size and index entries."""
    from connectors.backups.record import BackupError
    from connectors.backups.store import BackupStore
    from dsr.keys import KeyRing

    settings = Settings.from_env()
    if region is not None and region not in settings.regions:
        fail(
            f"unknown region {region!r}: DSR_REGIONS lists {', '.join(settings.regions)}",
            as_json=as_json,
        )
    require_state(settings, as_json=as_json)
    store = BackupStore(
        settings.backups_dir,
        KeyRing(settings.keys_dir),
        retention_days=settings.backup_retention_days,
    )
    try:
        records = store.list(region)
    except BackupError as exc:
        fail(f"cannot list backups: {exc}", as_json=as_json, code=1)
    now = datetime.now(UTC)
    rows = [
        {
            "backup_id": r.backup_id,
            "region": r.region,
            "backend": r.backend,
            "created_at": r.created_at,
            "expires_at": r.expires_at,
            "expired": r.expires_at <= now,
            "bytes": r.size,
            "index_entries": r.index_entries,
            "tables": len(r.tables),
        }
        for r in records
    ]
    if as_json:
        emit_json({"ok": True, "listed_at": now, "backups": rows})
        return
    if not rows:
        console.print(f"No backup in {settings.backups_dir}.", soft_wrap=True)
        return
    table = Table(title=f"{len(rows)} backups in {settings.backups_dir}")
    table.box = box.SIMPLE_HEAD
    for column in ("backup_id", "region", "expires", "MB", "index entries"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            row["backup_id"],
            row["region"],
            f"{row['expires_at']:%Y-%m-%d}" + (" (past)" if row["expired"] else ""),
            f"{row['bytes'] / 1e6:,.1f}",
            f"{row['index_entries']:,}",
            style="yellow" if row["expired"] else None,
        )
    console.print(table)
