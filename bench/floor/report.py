"""The floor benchmark's tables: discovery against the hand-written floor, per backend and size."""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

from rich.table import Table

from bench.report import size_label

WITHIN = 2.0  # issue 11: discovery within 2x of the raw-SQL floor


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.2f}"


def _ratio(value: float) -> str:
    text = f"{value:.2f}×"
    return text if value <= WITHIN else f"[red]{text}[/red]"


def _size(run: dict[str, Any]) -> str:
    if run["schema"] == "helpdesk":
        return f"help desk {run['size'] // 1000}k tickets"
    return f"demo CRM {size_label(run['size'])}/region"


def ratio_table(backend: str, runs: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Discovery vs the raw-SQL floor ({backend}); ms per person")
    for name in ("size", "scope", "call", "discovery median", "discovery p95", "floor median",
                 "floor p95", "ratio", "statements: discovery / floor",
                 "checkouts: discovery / floor", "rows found"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("size", "scope", "call") else "right")
    for run in runs:
        for scope, figures in run["scopes"].items():
            if "mismatch" in figures:
                table.add_row(_size(run), scope, "-", *(["-"] * 4), "[red]differs", "-", "-", "-")
                continue
            for call in ("single", "batch"):
                f = figures[call]
                label = "single" if call == "single" else f"batch of {f['people']:,}"
                table.add_row(
                    _size(run),
                    scope,
                    label,
                    _ms(f["discovery_ms_median"]),
                    _ms(f["discovery_ms_p95"]) if call == "single" else "",
                    _ms(f["floor_ms_median"]),
                    _ms(f["floor_ms_p95"]) if call == "single" else "",
                    _ratio(f["ratio_of_medians"]),
                    f"{f['discovery_statements_median']:.0f} / {f['floor_statements_median']:.0f}",
                    f"{f['discovery_checkouts_median']:.0f} / {f['floor_checkouts_median']:.0f}",
                    f"{f['rows']:,}",
                )
    return table


def growth_lines(runs: list[dict[str, Any]]) -> list[str]:
    """How single-person discovery and its floor grow from one demo-CRM size to the next."""
    crm = sorted((r for r in runs if r["schema"] == "democrm"), key=lambda r: r["size"])
    lines = []
    for small, big in pairwise(crm):
        for scope in small["scopes"]:
            a, b = small["scopes"][scope].get("single"), big["scopes"].get(scope, {}).get("single")
            if not a or not b:
                continue
            lines.append(
                f"{scope} {size_label(small['size'])} → {size_label(big['size'])}: discovery "
                f"{a['discovery_ms_median']:.2f} → {b['discovery_ms_median']:.2f} ms "
                f"(×{b['discovery_ms_median'] / a['discovery_ms_median']:.2f}), floor "
                f"{a['floor_ms_median']:.2f} → {b['floor_ms_median']:.2f} ms "
                f"(×{b['floor_ms_median'] / a['floor_ms_median']:.2f})"
            )
    return lines
