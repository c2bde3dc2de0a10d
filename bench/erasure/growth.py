"""How erasure cost grows from one size to the next, and what VACUUM FULL adds over VACUUM."""

from __future__ import annotations

import itertools
from statistics import median
from typing import Any

from bench.erasure.meter import PHASES
from bench.report import size_label

Sizes = dict[int, dict[str, Any]]


def _single_medians(figures: dict[str, Any]) -> dict[str, float]:
    group = [r for r in figures["records"] if r["subject"] != "maria"] or figures["records"]
    out = {p: median(r["seconds"][p] for r in group) for p in PHASES}
    out["total"] = median(r["total_s"] for r in group)
    return out


def _batch_seconds(f: dict[str, Any]) -> dict[str, float]:
    out = dict(f["seconds"])
    out["verification"] = f["verification_all_s"]  # per subject, extrapolated when sampled
    out["verify batched"] = f["verify_batched_s"]
    out["total"], out["total (batched verify)"] = f["total_s"], f["total_batched_s"]
    return out


def _ratio(a: float, b: float) -> str:
    return f"{b / a:.1f}×" if a > 0 else "-"


def growth_lines(sizes: Sizes) -> list[str]:
    """Per 10× contacts: how each phase of a single contact's erasure and of the batch grows."""
    ordered = sorted(sizes)
    lines = []
    for small, large in itertools.pairwise(ordered):
        a, b = sizes[small]["runs"], sizes[large]["runs"]
        head = f"{size_label(small)} → {size_label(large)}"
        for physical in a.get("single", {}):
            if physical in b.get("single", {}):
                x = _single_medians(a["single"][physical])
                y = _single_medians(b["single"][physical])
                parts = ", ".join(f"{p} {_ratio(x[p], y[p])}" for p in (*PHASES, "total"))
                lines.append(f"{head} single contact ({physical}): {parts}")
        for physical in a.get("batch", {}):
            if physical in b.get("batch", {}):
                x, y = _batch_seconds(a["batch"][physical]), _batch_seconds(b["batch"][physical])
                parts = ", ".join(f"{p} {_ratio(x[p], y[p])}" for p in x)
                lines.append(f"{head} batch ({physical}): {parts}")
    return lines


def vacuum_lines(sizes: Sizes) -> list[str]:
    """VACUUM FULL against plain VACUUM, where both ran: what the rewrite costs and its share."""
    lines = []
    for size, out in sizes.items():
        for kind in ("single", "batch"):
            runs = out["runs"].get(kind, {})
            if not {"vacuum_full", "vacuum"} <= set(runs):
                continue
            cost = {}
            for physical in ("vacuum_full", "vacuum"):
                f = runs[physical]
                if kind == "single":
                    m = _single_medians(f)
                    cost[physical] = (m["physical"], m["total"])
                else:
                    cost[physical] = (f["seconds"]["physical"], f["total_batched_s"])
            (full, full_total), (plain, plain_total) = cost["vacuum_full"], cost["vacuum"]
            unit = "median per contact" if kind == "single" else "whole batch"
            lines.append(
                f"{size_label(size)} {kind} ({unit}): VACUUM FULL {full:,.2f} s "
                f"({full / full_total:.0%} of {full_total:,.2f} s) vs VACUUM {plain:,.2f} s "
                f"({plain / plain_total:.0%} of {plain_total:,.2f} s): "
                f"the rewrite adds {full - plain:,.2f} s"
            )
    return lines
