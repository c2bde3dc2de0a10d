"""What the CLI shows after an opt-out or a restriction: rows set per table, not rows found."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from dsr.cli.output import console, emit_json, print_failure
from dsr.request_kinds import RequestType, State

if TYPE_CHECKING:
    from dsr.ledger import RequestRecord

FLAG_TYPES = frozenset({RequestType.OPT_OUT, RequestType.RESTRICTION})


def flags_report(
    record: RequestRecord, run_id: str | None, as_json: bool, *, log_path: str | None = None
) -> None:
    per_table = (record.result or {}).get("rows_per_table", {})
    ok = record.state == State.FULFILLED
    if as_json:
        emit_json(
            {
                "ok": ok,
                "request_id": record.request_id,
                "type": record.type,
                "state": record.state,
                "run_id": run_id,
                "due_at": record.due_at,
                "rows_per_system": (record.result or {}).get("rows_per_system", {}),
                "rows_per_table": per_table,
                "failure_reason": record.failure_reason,
                "log": log_path,
            }
        )
    elif ok:
        table = Table(title=f"{record.type}: {(record.result or {}).get('action', '')}")
        for col in ("system:region", "table", "set now", "already set"):
            table.add_column(col, justify="right" if "set" in col else "left")
        for system, tables in sorted(per_table.items()):
            for name, counts in sorted(tables.items()):
                table.add_row(system, name, str(counts["set"]), str(counts["already"]))
            if not tables:
                table.add_row(system, "(nothing of the person's)", "0", "0")
        console.print(table)
        console.print(
            f"request [bold]{record.request_id}[/] ({record.type}) fulfilled "
            f"(due {record.due_at:%Y-%m-%d})"
        )
    else:
        print_failure(record.request_id, record.state, record.failure_reason, log_path)
    if not ok:
        raise typer.Exit(1)
