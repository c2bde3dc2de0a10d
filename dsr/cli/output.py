"""How the CLI shows things: rich tables for people, JSON for scripts, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def emit_json(payload: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=_default) + "\n")


def fail(message: str, *, as_json: bool = False, code: int = 2) -> NoReturn:
    if as_json:
        emit_json({"ok": False, "error": message})
    else:
        errors.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


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
