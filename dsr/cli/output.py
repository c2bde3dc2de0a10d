"""How the CLI shows things: rich tables for people, JSON for scripts, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def emit_json(payload: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=_default) + "\n")


def one_line(text: str) -> str:
    """A message whose source wrote several lines (a YAML parser's caret), as one line."""
    return " ".join(part.strip() for part in str(text).strip().splitlines() if part.strip())


def fail(message: str, *, as_json: bool = False, code: int = 2) -> NoReturn:
    """Refuse (code 2) or report a failure (code 1): one unwrapped line on stderr that says what
    is wrong and what to do; under --json the same message as ``{"ok": false, "error": ...}``
    on stdout instead, so that a script reads one JSON document and nothing else."""
    message = one_line(message)
    if as_json:
        emit_json({"ok": False, "error": message})
    else:
        errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def print_failure(request_id: str, state: str, reason: str | None, log_path: str | None) -> None:
    """A request that did not succeed, in one line on stderr: its state, why, and where
    Dagster's log of the run is."""
    why = reason or "see the run in the Dagster UI (dsr ui)"
    where = f"; Dagster's log of the run: {log_path}" if log_path else ""
    errors.print(
        f"[bold red]error:[/] {escape(one_line(f'request {request_id} is {state}: {why}{where}'))}",
        soft_wrap=True,
    )


def note(message: str) -> None:
    """A one-line notice on stderr that is not an error (stdout stays clean for --json)."""
    errors.print(f"[yellow]note:[/] {escape(message)}", soft_wrap=True)


def counts_table(title: str, rows: Mapping[str, int], mentions: Mapping[str, int]) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("system:region")
    table.add_column("rows", justify="right")
    table.add_column("mentions", justify="right")
    for key in sorted(set(rows) | set(mentions)):
        table.add_row(key, str(rows.get(key, 0)), str(mentions.get(key, 0)))
    return table


def actions_table(actions: Mapping[str, Mapping[str, int]]) -> Table:
    table = Table(title="erased")
    table.add_column("system:region")
    names = ("deleted", "anonymised", "redacted", "kept")
    for name in names:
        table.add_column(name, justify="right")
    for key in sorted(actions):
        table.add_row(key, *(str(actions[key].get(n, 0)) for n in names))
    return table
