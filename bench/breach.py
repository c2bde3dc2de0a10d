"""Breach impact over a seeded CRM: time and peak memory of one query, in a fresh process.

    python -m bench.breach --size 100000 --tables contacts,notes

Uses the cached two-region CRM of ``bench.crm_cache`` (seeded on first use) read-only; the
report is written to a temporary folder and removed. The default window covers the whole
synthetic history, so every row of the tables counts: the worst case.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.child import run_child


def _measure(urls: dict[str, str], tables: str, since: str, until: str, out: Any) -> None:
    try:
        from connectors.breach import assess
        from connectors.breach_report import write_report
        from connectors.breach_window import parse_query
        from connectors.crm_sql import CrmSqlConnector
        from connectors.datamap import load_datamap
        from dsr.settings import DEMO_DATAMAP
        from resources.engines import engine_for

        dm = load_datamap(DEMO_DATAMAP)
        connectors = [CrmSqlConnector(r, engine_for(u), dm) for r, u in urls.items()]
        query = parse_query(dm, list(urls), tables=tables, since=since, until=until)
        stages: dict[str, float] = {}
        last = [time.perf_counter()]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.perf_counter()
            stages[stage] = stages.get(stage, 0.0) + now - last[0]
            last[0] = now
            out.put(("tick", done, total, stage))

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        impact = assess(connectors, query, progress=progress)
        assessed = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            files = write_report(impact, Path(tmp) / "report")
            size = files.json_path.stat().st_size
        done = time.perf_counter()
        counts = impact.counts()
        out.put(
            (
                "done",
                {
                    "assess_s": round(assessed - start, 2),
                    "report_s": round(done - assessed, 2),
                    "stages_s": {k: round(v, 2) for k, v in stages.items()},
                    "rows": sum(sum(t.values()) for t in counts["rows"].values()),
                    "people": counts["people"],
                    "clients": counts["clients_affected"],
                    "report_bytes": size,
                    "rss_before_mb": round(rss_before / 1024),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                },
            )
        )
    except BaseException:
        out.put(("error", traceback.format_exc()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.breach", description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=100_000, help="contacts per region")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tables", default="contacts,notes")
    p.add_argument("--since", default="2019-01-01")
    p.add_argument("--until", default="2026-11-30")
    p.add_argument("--postgres", metavar="ADMIN_URL", help="a PostgreSQL server instead of SQLite")
    p.add_argument("--json", metavar="PATH", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    console = Console(stderr=True)
    from bench.crm_cache import postgres_urls, sqlite_urls

    def seeding(region: str, done: int, total: int, stage: str) -> None:
        console.print(f"{region}: {stage} {done}/{total}", end="\r")

    urls = (
        postgres_urls(args.postgres, args.size, args.seed, seeding)
        if args.postgres
        else sqlite_urls(args.size, args.seed, seeding)
    )
    ticks = lambda done, total, stage: console.print(f"{stage} {done}/{total}   ", end="\r")  # noqa: E731
    result = run_child(
        _measure, (urls, args.tables, args.since, args.until), "breach", ticks, join_timeout=60
    )
    result = {
        "backend": "postgresql" if args.postgres else "sqlite",
        "size": args.size,
        "tables": args.tables,
        "window": [args.since, args.until],
        **result,
    }
    table = Table(title=f"breach impact, {args.tables}, {args.size:,} contacts per region")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
