"""Breach impact over a seeded CRM: time per phase and peak memory of one query per size.

    python -m bench breach --sizes 10000,100000 --tables contacts,notes

Each size runs in a fresh process (its peak RSS is its own) over the cached two-region CRM of
``bench.crm_cache`` (seeded on first use), read-only; the report is written to a temporary
folder and removed. The default window covers the whole synthetic history, so every row of the
tables counts: the worst case. With two sizes or more it prints how peak memory grows between
them, per affected person and per person of the largest Client (what the memory should follow).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import traceback
from itertools import pairwise
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.child import run_child

# Progress stages (after "<region>: ") -> the phase the time before the tick was spent in.
_PHASES = {
    "iNextCRM's rows read": "rows",
    "rows read": "rows",
    "people resolved": "resolution",
    "report written": "report",
}


def _measure(urls: dict[str, str], tables: str, since: str, until: str, out: Any) -> None:
    try:
        from connectors.crm.datamap import load_datamap
        from connectors.crm.sql import CrmSqlConnector
        from dsr.breach.assess import assess
        from dsr.breach.identities import IdentityCache
        from dsr.breach.window import parse_query
        from dsr.breach.writer import ReportWriter
        from dsr.settings import DEMO_DATAMAP
        from resources.engines import engine_for

        dm = load_datamap(DEMO_DATAMAP)
        connectors = [CrmSqlConnector(r, engine_for(u), dm) for r, u in urls.items()]
        query = parse_query(dm, list(urls), tables=tables, since=since, until=until)
        phases = {"rows": 0.0, "resolution": 0.0, "report": 0.0}
        last = [time.perf_counter()]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.perf_counter()
            phases[_PHASES[stage.split(": ", 1)[1]]] += now - last[0]
            last[0] = now
            if done == total or done % 10 == 0:
                out.put(("tick", done, total, stage))

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        caches = (IdentityCache(), IdentityCache())
        cpu_before = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            writer = ReportWriter(Path(tmp) / "report")
            impact = assess(connectors, query, writer, progress=progress, caches=caches)
            assessed = time.perf_counter()
            files = writer.finish(impact)
            size = files.json_path.stat().st_size
        done = time.perf_counter()
        phases["rows"] += assessed - last[0]  # after the last tick: backups, erasures (none here)
        phases["report"] += done - assessed  # report.json's head and the part files joined
        counts = impact.counts()
        out.put(
            (
                "done",
                {
                    "total_s": round(done - start, 2),
                    # CPU seconds: what the code costs, less moved by other load on the machine
                    "cpu_s": round(
                        resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu_before, 2
                    ),
                    "phases_s": {k: round(v, 2) for k, v in phases.items()},
                    "rows": sum(sum(t.values()) for t in counts["rows"].values()),
                    "people": counts["people"],
                    "clients": counts["clients_affected"],
                    "largest_client_people": max(
                        (c.people_count for c in impact.clients), default=0
                    ),
                    "identity_cache": {"clients": caches[0].stats(), "inextcrm": caches[1].stats()},
                    "report_bytes": size,
                    "rss_before_mb": round(rss_before / 1024),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                },
            )
        )
    except BaseException:
        out.put(("error", traceback.format_exc()))


def _growth(results: list[dict[str, Any]]) -> list[str]:
    """How peak memory grew from one size to the next, per person and per largest-Client person."""
    lines = []
    for a, b in pairwise(results):
        mb = b["peak_rss_mb"] - a["peak_rss_mb"]
        people = b["people"] - a["people"]
        largest = b["largest_client_people"] - a["largest_client_people"]
        per_person = f"{mb * 1024 / people:.2f} KB" if people else "n/a"
        per_largest = f"{mb * 1024 / largest:.2f} KB" if largest else "n/a"
        lines.append(
            f"{a['size']:,} -> {b['size']:,} contacts: peak RSS {a['peak_rss_mb']} -> "
            f"{b['peak_rss_mb']} MB ({mb:+} MB); people {a['people']:,} -> {b['people']:,} "
            f"({per_person} each); largest Client {a['largest_client_people']:,} -> "
            f"{b['largest_client_people']:,} people ({per_largest} each)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench breach", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000", help="contacts per region, comma-separated")
    p.add_argument("--size", type=int, help="one size only (same as --sizes N)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tables", default="contacts,notes")
    p.add_argument("--since", default="2019-01-01")
    p.add_argument("--until", default="2026-11-30")
    p.add_argument("--postgres", metavar="ADMIN_URL", help="a PostgreSQL server instead of SQLite")
    p.add_argument("--json", metavar="PATH", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    sizes = [args.size] if args.size else [int(s) for s in args.sizes.split(",") if s.strip()]
    console = Console(stderr=True)
    from bench.crm_cache import postgres_urls, sqlite_urls

    def seeding(region: str, done: int, total: int, stage: str) -> None:
        console.print(f"{region}: {stage} {done}/{total}", end="\r")

    ticks = lambda done, total, stage: console.print(f"{stage} {done}/{total}   ", end="\r")  # noqa: E731
    results = []
    for size in sizes:
        urls = (
            postgres_urls(args.postgres, size, args.seed, seeding)
            if args.postgres
            else sqlite_urls(size, args.seed, seeding)
        )
        figures = run_child(
            _measure, (urls, args.tables, args.since, args.until), "breach", ticks, join_timeout=60
        )
        results.append({"size": size, **figures})
    table = Table(
        title=f"breach impact, {args.tables}, {'postgresql' if args.postgres else 'sqlite'}"
    )
    table.add_column("figure")
    for size in sizes:
        table.add_column(f"{size:,} per region", justify="right")
    for key in [k for k in results[0] if k != "size"]:
        cells = [r[key] for r in results]
        table.add_row(key, *(json.dumps(v) if isinstance(v, dict) else str(v) for v in cells))
    out = Console()
    out.print(table)
    growth = _growth(results)
    for line in growth:
        out.print(line)
    if args.json:
        backend = "postgresql" if args.postgres else "sqlite"
        doc = {"backend": backend, "tables": args.tables, "window": [args.since, args.until]}
        args.json.write_text(json.dumps({**doc, "results": results, "growth": growth}, indent=2))
    return 0
