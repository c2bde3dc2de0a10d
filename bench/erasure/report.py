"""Rich tables of the erasure figures: single subjects, the batch, memory, physical cleanup,
and how each phase grows from one size to the next (10× contacts)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from statistics import median
from typing import Any

from rich.table import Table

from bench.erasure.meter import BATCHED, PHASES
from bench.report import ms, num, size_label

Sizes = dict[int, dict[str, Any]]
HEADS = {"apply": "apply (txn)", "physical": "cleanup", "verification": "verify"}


def _runs(sizes: Sizes, kind: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    for size, out in sizes.items():
        for physical, figures in out["runs"].get(kind, {}).items():
            yield size, physical, figures


def _rate(rows: float, seconds: float) -> str:
    return "-" if not seconds or math.isnan(seconds) else num(rows / seconds)


def _groups(records: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    demo = [r for r in records if r["subject"] == "maria"]
    others = [r for r in records if r["subject"] != "maria"]
    out = [(f"demo person ({r['scope']})", [r]) for r in demo]
    if others:
        out.append((f"{len(others)} contacts ({others[0]['scope']}), median", others))
    return out


def single_table(sizes: Sizes, backend: str) -> Table:
    t = Table(title=f"single-subject erasure on {backend}: ms per subject (median of the group)")
    for col in ("size", "mode", "subject", *(HEADS.get(p, p) for p in PHASES), "total"):
        t.add_column(col, justify="right" if col not in ("mode", "subject") else "left")
    for col in ("max total", "rows changed", "rows/s txn", "rows/s end-to-end", "verified"):
        t.add_column(col, justify="right")
    for size, physical, figures in _runs(sizes, "single"):
        for label, group in _groups(figures["records"]):
            phase_ms = [ms(median(r["seconds"][p] for r in group)) for p in PHASES]
            changed = sum(r["changed"] for r in group)
            apply_s = sum(r["seconds"]["plan"] + r["seconds"]["apply"] for r in group)
            t.add_row(
                size_label(size),
                _physical_label(backend, physical),
                label,
                *phase_ms,
                ms(median(r["total_s"] for r in group)),
                ms(max(r["total_s"] for r in group)),
                num(median(r["changed"] for r in group)),
                _rate(changed, apply_s),
                _rate(changed, sum(r["total_s"] for r in group)),
                f"{sum(r['verified'] for r in group)}/{len(group)}",
            )
    return t


def batch_table(sizes: Sizes, backend: str) -> Table:
    t = Table(title=f"batch erasure on {backend}: seconds for the whole batch, one transaction "
                    "per database; verify = CrmEraser.verify per subject (≈: extrapolated from "
                    "a sample), batched = one find for every subject")  # fmt: skip
    heads = [HEADS.get(p, p) for p in PHASES]
    heads.insert(PHASES.index("verification") + 1, "verify batched")
    for col in ("size", "mode", "subjects", *heads, "total", "total (batched verify)"):
        t.add_column(col, justify="left" if col == "mode" else "right")
    for col in ("ms/subject", "rows changed", "rows/s txn", "rows/s end-to-end", "proofs"):
        t.add_column(col, justify="right")
    for size, physical, f in _runs(sizes, "batch"):
        s = f["seconds"]
        sampled = f["verify_per_subject_s"]["n"] < f["subjects"]
        cells = [f"{s[p]:,.2f}" for p in PHASES]
        cells[PHASES.index("verification")] = (
            f"{'≈' if sampled else ''}{f['verification_all_s']:,.1f}"
        )
        cells.insert(PHASES.index("verification") + 1, f"{f['verify_batched_s']:,.2f}")
        n = max(f["subjects"], 1)
        t.add_row(
            size_label(size),
            _physical_label(backend, physical),
            num(f["subjects"]),
            *cells,
            f"{'≈' if sampled else ''}{f['total_s']:,.1f}",
            f"{f['total_batched_s']:,.1f}",
            f"{ms(f['total_s'] / n)} / {ms(f['total_batched_s'] / n)}",
            num(f["changed"]),
            _rate(f["changed"], s["plan"] + s["apply"]),
            _rate(f["changed"], f["total_batched_s"]),
            f"{f['proofs']}/{f['subjects']}",
        )
    return t


def batch_detail_table(sizes: Sizes, backend: str) -> Table:
    t = Table(title=f"batch erasure on {backend}: per-subject steps and statements sent")
    left = ("mode", "statements per phase")
    cols = ("size", "mode", "register s", "verify ms median/p95/max (n)",
            "proof ms median/p95/max", "rows found", "mentions", "verified (batched)",
            *left[1:])  # fmt: skip
    for col in cols:
        t.add_column(col, justify="left" if col in left else "right")
    for size, physical, f in _runs(sizes, "batch"):
        v, p = f["verify_per_subject_s"], f["proof_per_subject_s"]
        t.add_row(
            size_label(size),
            _physical_label(backend, physical),
            f"{f['register_s']:,.1f}",
            f"{ms(v['median'])} / {ms(v['p95'])} / {ms(v['max'])} ({v['n']})",
            f"{ms(p['median'])} / {ms(p['p95'])} / {ms(p['max'])}",
            num(f["rows_found"]),
            num(f["mentions_found"]),
            f"{f['verified']} ({f['verified_batched']})",
            ", ".join(f"{k} {num(n)}" for k, n in f["statements"].items()),
        )
    return t


def stages_table(sizes: Sizes, backend: str) -> Table:
    """Inside each search: the identity fixpoint, references, mention scan (seconds summed)."""
    t = Table(title=f"where the searches spend their time on {backend} (s, summed over the run)")
    stages = ("identities", "references", "mentions")
    for col in ("size", "run", "mode", "search", *stages):
        t.add_column(col, justify="left" if col in ("run", "mode", "search") else "right")
    for kind in ("single", "batch"):
        for size, physical, f in _runs(sizes, kind):
            summed: dict[str, float] = {}
            for rec in f.get("records", [f]):
                for key, sec in rec["stages"].items():
                    summed[key] = summed.get(key, 0.0) + sec
            for search in sorted({k.split("/")[0] for k in summed}):
                t.add_row(
                    size_label(size), kind, _physical_label(backend, physical), search,
                    *(f"{summed.get(f'{search}/{st}', 0.0):,.2f}" for st in stages),
                )  # fmt: skip
    return t


def memory_table(sizes: Sizes, backend: str) -> Table:
    t = Table(title=f"peak RSS (MB) of the measuring process, per phase, on {backend}")
    phases = (*PHASES, BATCHED)
    heads = (*(HEADS.get(p, p) for p in PHASES), "verify batched")
    for col in ("size", "run", "mode", "after imports", *heads):
        t.add_column(col, justify="left" if col in ("run", "mode") else "right")
    t.add_column("peak", justify="right")
    for kind in ("single", "batch"):
        for size, physical, f in _runs(sizes, kind):
            peaks = f["peak_mb"]
            t.add_row(
                size_label(size),
                kind,
                _physical_label(backend, physical),
                f"{f['rss_after_imports_mb']:,.0f}",
                *(f"{peaks[p]:,.0f}" if p in peaks else "-" for p in phases),
                f"{f['rss_peak_mb']:,.0f}",
            )
    return t


def physical_table(sizes: Sizes, backend: str, top: int = 8) -> Table:
    t = Table(title=f"physical cleanup on {backend}: the slowest statements (summed over a run)")
    for col in ("size", "run", "mode", "statement", "calls", "seconds", "relation MB"):
        t.add_column(col, justify="left" if col in ("run", "mode", "statement") else "right")
    for kind in ("single", "batch"):
        for size, physical, f in _runs(sizes, kind):
            stmts = f["physical"]["statements"]
            sizes_mb = f["physical"]["sizes_mb"]
            for sql, seconds in sorted(stmts.items(), key=lambda kv: -kv[1])[:top]:
                rel = sql.split()[-1].strip('"')
                mb = sizes_mb.get(rel)
                t.add_row(
                    size_label(size), kind, _physical_label(backend, physical), sql,
                    str(f["physical"]["calls"][sql]), f"{seconds:,.3f}",
                    f"{mb:,.1f}" if mb is not None else "",
                )  # fmt: skip
    return t


def _physical_label(backend: str, physical: str) -> str:
    return "WAL checkpoint" if backend == "sqlite" else physical
