"""Benchmark access-request discovery and bundle assembly on 10k → 1M-contact CRMs.

    .venv/bin/python -m bench access [--sizes 10000,100000,1000000] [--batch 1000]
        [--postgres URL] [--json PATH]

Per size: a two-region (us, eu) demo CRM with the planted cast, seeded once and cached; then each
phase in a fresh process (its peak RSS is ``VmHWM`` of that process): single-subject
discovery, bundle assembly, a batch of N subjects in one call, the two mention-search strategies,
and the plan of every statement a request sends.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from time import perf_counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import crm_cache
from bench.access import worker
from bench.access.report import (
    batch_table,
    bundle_table,
    crossover_lines,
    growth_lines,
    mentions_tables,
    plans_table,
    setup_table,
    single_table,
    summarise_mentions,
    summarise_requests,
)
from bench.report import run_header, size_label
from bench.subjects import pick
from dsr.settings import DEMO_DATAMAP

PHASES = ("single", "bundle", "batch", "mentions", "plans")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench access", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="contacts per region")
    p.add_argument("--batch", type=int, default=1000, help="subjects in the batched call")
    p.add_argument("--singles", type=int, default=20, help="synthetic single subjects per scope")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--postgres", metavar="URL", help="admin URL of a PostgreSQL server")
    p.add_argument("--json", metavar="PATH", type=Path, help="write the figures here")
    p.add_argument("--phases", default=",".join(PHASES), help=f"subset of {','.join(PHASES)}")
    return p.parse_args(argv)


def _summarise(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    if name in ("single", "bundle"):
        raw["summary"] = {s: summarise_requests(rs) for s, rs in raw["requests"].items()}
    elif name == "mentions":
        raw["summary"] = summarise_mentions(raw)
    return raw


def run_size(args: argparse.Namespace, size: int, progress: Progress) -> dict[str, Any]:
    label = size_label(size)
    tasks = {r: progress.add_task(f"{label} seed {r}", total=None) for r in crm_cache.REGIONS}

    def seeded(region: str, done: int, total: int, stage: str) -> None:
        progress.update(tasks[region], completed=done, total=total,
                        description=f"{label} {region}: {stage}")  # fmt: skip

    start = perf_counter()
    if args.postgres:
        urls = crm_cache.postgres_urls(args.postgres, size, args.seed, seeded)
    else:
        urls = crm_cache.sqlite_urls(size, args.seed, seeded)
    seed_s = perf_counter() - start
    # Logged as well as drawn: a redirected run shows no live bars, only these lines.
    progress.console.log(f"{label}: databases ready in {seed_s:.0f} s")
    cast = pick(urls, size, args.seed, args.singles, args.batch)
    spec = {"urls": urls, "cast": cast.to_dict(), "datamap": str(DEMO_DATAMAP)}
    out: dict[str, Any] = {"seed_or_reuse_s": seed_s}
    for name in args.phases.split(","):
        task = progress.add_task(f"{label} {name}", total=None)

        def tick(done: int, total: int, what: str, task: Any = task, name: str = name) -> None:
            progress.update(task, completed=done, total=total,
                            description=f"{label} {name}: {what}")  # fmt: skip

        start = perf_counter()
        out[name] = _summarise(name, worker.run(name, spec, tick))
        out[name]["wall_s"] = perf_counter() - start
        done = f"{label} {name}: done in {out[name]['wall_s']:.0f} s"
        progress.update(task, description=done)
        progress.console.log(done)
    return out


def render(console: Console, sizes: dict[int, dict[str, Any]]) -> None:
    builders = {
        "single": lambda: [single_table(sizes), setup_table(sizes)],
        "bundle": lambda: [bundle_table(sizes)],
        "batch": lambda: [batch_table(sizes)],
        "mentions": lambda: mentions_tables(sizes),
        "plans": lambda: [plans_table(sizes)],
    }
    first = next(iter(sizes.values()))
    for name, build in builders.items():
        if name in first:
            for table in build():
                console.print(table)
    if "mentions" in first:
        for line in crossover_lines(sizes):
            console.print(line)
    if all(k in first for k in ("single", "bundle", "batch")):
        for line in growth_lines(sizes):
            console.print(line)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    console = Console(width=None if sys.stdout.isatty() else 220)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    backend = "postgresql" if args.postgres else "sqlite"
    results: dict[str, Any] = {
        **run_header(backend),
        "batch": args.batch,
        "singles": args.singles,
        "seed": args.seed,
        "peak_rss": "VmHWM of a fresh spawned process per phase; start = VmRSS after imports",
        "sizes": {},
    }
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:
        for size in sizes:
            results["sizes"][size] = run_size(args, size, progress)
            if args.json:  # after every size, so an interrupted 1M run keeps the smaller ones
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(results, indent=1, default=str))
    console.print(f"backend: {backend}; peak RSS: {results['peak_rss']}")
    render(console, results["sizes"])
    return 0
