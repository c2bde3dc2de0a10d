"""Summaries of the access phases' raw figures and their rich tables: one per phase (single,
setup, bundle, batch, the mention-search strategies, the query plans), then growth per 10× data."""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import pairwise
from statistics import median
from typing import Any

from rich.table import Table

from bench.report import ms, num, p95, size_label


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


def summarise_mentions(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per case: the pre-filter and the streaming figures side by side."""
    rows: dict[str, dict[str, Any]] = {}
    for strategy in ("prefilter", "stream"):
        runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for run in raw[strategy]:
            runs[run["case"]].append(run)
        for case, group in runs.items():
            row = rows.setdefault(case, {"case": case, "subjects": group[0]["subjects"]})
            errors = [r["error"] for r in group if "error" in r]
            ok = [r for r in group if "error" not in r]
            if errors:
                row[f"{strategy}_error"] = errors[0]
            if ok:
                row["terms"] = median(r["terms"] for r in ok)
                row[f"{strategy}_mentions_s"] = median(r["mentions_s"] for r in ok)
                row[f"{strategy}_total_s"] = median(r["seconds"] for r in ok)
                row[f"{strategy}_text_rows"] = median(r["text_rows"] for r in ok)
                row[f"{strategy}_found"] = median(r["mentions"] for r in ok)
    return list(rows.values())


def mentions_tables(sizes: dict[int, dict[str, Any]]) -> list[Table]:
    t = Table(
        title="mention search: SQL LIKE pre-filter vs streaming all text through MentionMatcher "
        "(mentions stage; singles are medians)"
    )
    for col in ("size", "case", "subjects", "terms", "pre-filter ms", "stream ms",
                "rows read pre/stream", "mentions pre/stream", "faster",
                "production picks", "peak RSS MB (start)"):  # fmt: skip
        t.add_column(col, justify="right")
    for size, r in sizes.items():
        threshold = r["mentions"]["threshold"]
        for row in r["mentions"]["summary"]:
            pre, stream = row.get("prefilter_mentions_s"), row.get("stream_mentions_s")
            if pre is None or stream is None:
                faster = "stream" if pre is None else "pre-filter"
            else:
                faster = "pre-filter" if pre < stream else "stream"
            t.add_row(
                size_label(size), row["case"], str(row["subjects"]), num(row.get("terms", 0)),
                ms(pre) if pre is not None else row.get("prefilter_error", "-")[:40],
                ms(stream) if stream is not None else row.get("stream_error", "-")[:40],
                f"{num(row.get('prefilter_text_rows', 0))}/{num(row.get('stream_text_rows', 0))}",
                f"{num(row.get('prefilter_found', 0))}/{num(row.get('stream_found', 0))}", faster,
                "pre-filter" if row.get("terms", 0) <= threshold else "stream", rss(r["mentions"]),
            )  # fmt: skip
    return [t]


def crossover_lines(sizes: dict[int, dict[str, Any]]) -> list[str]:
    """A least-squares line of pre-filter time over terms, met with streaming's median time."""
    lines = []
    for size, r in sizes.items():
        sweep = [x for x in r["mentions"]["summary"] if x["case"].startswith("sweep")]
        pts = [
            (x["terms"], x["prefilter_mentions_s"]) for x in sweep if "prefilter_mentions_s" in x
        ]
        streams = [x["stream_mentions_s"] for x in sweep if "stream_mentions_s" in x]
        if len(pts) < 2 or not streams:
            continue
        mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
        slope = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
        fixed, stream = my - slope * mx, median(streams)
        cross = (stream - fixed) / slope if slope > 0 else math.inf
        lines.append(
            f"  {size_label(size)}: pre-filter ≈ {fixed * 1000:,.0f} ms + {slope * 1000:,.1f} ms "
            f"per term; streaming ≈ {stream * 1000:,.0f} ms; break-even ≈ {cross:,.0f} terms "
            f"(PREFILTER_MAX_CLAUSES = {r['mentions']['threshold']})"
        )
    return ["[bold]mention-search break-even[/bold] (largest tenant's text):", *lines]


def plans_table(sizes: dict[int, dict[str, Any]]) -> Table:
    size, r = max(sizes.items())
    t = Table(title=f"query plans of every statement one request sends ({size_label(size)})")
    lookups = [st for st in r["plans"]["statements"] if st["kind"] in ("e-mail", "phone")]
    indexed = sum(st["indexed"] for st in lookups)
    t.caption = f"e-mail and phone lookups: {indexed} of {len(lookups)} query shapes use an index"
    for col in ("kind", "table", "rows", "condition", "index?", "plans seen"):
        t.add_column(col)
    for st in r["plans"]["statements"]:
        verdict = "yes" if st["indexed"] else ("scan" if st["kind"] == "text" else "NO")
        t.add_row(st["kind"], st["table"], num(st["table_rows"]), st["condition"][:60], verdict,
                  " | ".join(st["plans"]))  # fmt: skip
    return t


def _per10(a: tuple[int, float], b: tuple[int, float]) -> float:
    (na, ta), (nb, tb) = a, b
    return (tb / ta) ** (1 / math.log10(nb / na)) if ta > 0 else math.nan


def series(sizes: dict[int, dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for size, r in sorted(sizes.items()):
        for scope, s in r["single"]["summary"].items():
            out[f"single discovery {scope} (median)"].append((size, s["median_s"]))
        for scope, s in r["bundle"]["summary"].items():
            out[f"bundle {scope} (median)"].append((size, s["median_s"]))
        for b in r["batch"]["batches"]:
            out[f"batch {b['scope']} (per request)"].append((size, b["seconds"] / b["subjects"]))
    return out


def growth_lines(sizes: dict[int, dict[str, Any]]) -> list[str]:
    lines = ["[bold]growth[/bold] (time ratio per 10× data between consecutive sizes):"]
    for name, points in series(sizes).items():
        steps = [
            f"{size_label(a[0])}→{size_label(b[0])} ×{_per10(a, b):.2f}"
            for a, b in pairwise(points)
        ]
        lines.append(f"  {name}: " + (", ".join(steps) or "one size only"))
    size, r = max(sizes.items())
    lines.append(
        f"[bold]where single-subject time goes at {size_label(size)}[/bold] (sum over requests):"
    )
    for scope, records in r["single"]["requests"].items():
        total = sum(x["seconds"] for x in records)
        parts = {"resolve_across": sum(x["resolve_s"] for x in records)}
        for stage in ("identities", "references", "mentions", "other"):
            parts[f"find {stage}"] = sum(x["stages"].get(stage, 0.0) for x in records)
        shares = ", ".join(f"{k} {v / total:.0%}" for k, v in parts.items())
        lines.append(f"  {scope}: {shares}")
    return lines
