"""Summaries of the raw figures, and their rich tables: one per phase, then growth per 10× data."""

from __future__ import annotations

import math
import platform
from datetime import UTC, datetime
from statistics import median
from typing import Any

import sqlalchemy
from rich.table import Table


def p95(values: list[float]) -> float:
    """Linear-interpolated 95th percentile (numpy's default), without numpy."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = 0.95 * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def ms(seconds: float) -> str:
    return "-" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:,.1f}"


def num(value: float) -> str:
    return f"{value:,.0f}"


def size_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def _rate(records: list[dict[str, Any]]) -> float:
    seconds = sum(r["seconds"] for r in records)
    found = sum(r["rows"] + r.get("mentions", 0) for r in records)
    return found / seconds if seconds else math.nan


def summarise_requests(records: list[dict[str, Any]]) -> dict[str, Any]:
    times = [r["seconds"] for r in records]
    out: dict[str, Any] = {
        "n": len(records),
        "median_s": median(times),
        "p95_s": p95(times),
        "rows_per_s": _rate(records),
        "rows_median": median(r["rows"] for r in records),
    }
    if "stages" in records[0]:
        out["resolve_median_s"] = median(r["resolve_s"] for r in records)
        for stage in ("identities", "references", "mentions", "other"):
            out[f"{stage}_median_s"] = median(r["stages"].get(stage, 0.0) for r in records)
        counters = ("statements", "resolve_statements", "lookup_rows", "text_rows")
        for key in (*counters, "text_rows_in_scope"):
            out[f"{key}_median"] = median(r[key] for r in records)
    if "bytes" in records[0]:
        out["bytes_median"] = median(r["bytes"] for r in records)
    return out


def rss(phase: dict[str, Any]) -> str:
    return f"{phase['rss_peak_mb']:,.0f} ({phase['rss_start_mb']:,.0f})"


def single_table(sizes: dict[int, dict[str, Any]]) -> Table:
    t = Table(title="(a) single-subject discovery: resolve_across + find per region, per request")
    for col in ("size", "scope", "n", "median ms", "p95 ms", "resolve", "find: ident.", "refs",
                "mentions", "rows/req", "rows/s", "SQL stmts (resolve)", "text rows read/in scope",
                "peak RSS MB (start)"):  # fmt: skip
        t.add_column(col, justify="right")
    for size, r in sizes.items():
        for scope, s in r["single"]["summary"].items():
            t.add_row(
                size_label(size), scope, str(s["n"]), ms(s["median_s"]), ms(s["p95_s"]),
                ms(s["resolve_median_s"]), ms(s["identities_median_s"]),
                ms(s["references_median_s"]), ms(s["mentions_median_s"]), num(s["rows_median"]),
                num(s["rows_per_s"]),
                f"{num(s['statements_median'])} ({num(s['resolve_statements_median'])})",
                f"{num(s['text_rows_median'])}/{num(s['text_rows_in_scope_median'])}",
                rss(r["single"]),
            )  # fmt: skip
    return t


def setup_table(sizes: dict[int, dict[str, Any]]) -> Table:
    t = Table(title="fixed cost a fresh Dagster step adds (it builds new connectors per request)")
    for col in ("size", "load_datamap ms", "validate() ms", "1st request ms", "2nd request ms"):
        t.add_column(col, justify="right")
    for size, r in sizes.items():
        s = r["single"]["setup"]
        t.add_row(size_label(size), ms(s["datamap_load_s"]), ms(s["validate_s"]),
                  ms(s["cold_request_s"]), ms(s["warm_request_s"]))  # fmt: skip
    return t


def bundle_table(sizes: dict[int, dict[str, Any]]) -> Table:
    t = Table(title="(b) bundle assembly: build_bundle into a temp dir, per request")
    for col in ("size", "scope", "n", "median ms", "p95 ms", "rows/req", "rows/s", "ZIP KB",
                "peak RSS MB (start)"):  # fmt: skip
        t.add_column(col, justify="right")
    for size, r in sizes.items():
        for scope, s in r["bundle"]["summary"].items():
            t.add_row(size_label(size), scope, str(s["n"]), ms(s["median_s"]), ms(s["p95_s"]),
                      num(s["rows_median"]), num(s["rows_per_s"]),
                      f"{s['bytes_median'] / 1024:,.1f}", rss(r["bundle"]))  # fmt: skip
    return t


def batch_table(sizes: dict[int, dict[str, Any]]) -> Table:
    t = Table(title="(c) batch: N subjects in ONE resolve_across + one find per region")
    for col in ("size", "scope", "N", "total s", "per request ms", "resolve s", "ident. s",
                "refs s", "mentions s", "rows+mentions", "rows/s", "lookup rows",
                "text rows read/in scope", "peak RSS MB (start)"):  # fmt: skip
        t.add_column(col, justify="right")
    for size, r in sizes.items():
        for b in r["batch"]["batches"]:
            st = b["stages"]
            t.add_row(
                size_label(size), b["scope"], str(b["subjects"]), f"{b['seconds']:.2f}",
                ms(b["seconds"] / b["subjects"]), f"{b['resolve_s']:.2f}",
                f"{st.get('identities', 0):.2f}", f"{st.get('references', 0):.2f}",
                f"{st.get('mentions', 0):.2f}", num(b["rows"] + b["mentions"]),
                num((b["rows"] + b["mentions"]) / b["seconds"]), num(b["lookup_rows"]),
                f"{num(b['text_rows'])}/{num(b['text_rows_in_scope'])}", rss(r["batch"]),
            )  # fmt: skip
    return t


def run_header(backend: str) -> dict[str, Any]:
    """What every benchmark's JSON starts with: where and with what it ran."""
    return {
        "backend": backend,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
    }
