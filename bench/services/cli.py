"""Benchmark the Google, Dropbox and GoToMeeting connectors on one person spread over many items.

    .venv/bin/python -m bench services [--files 1000] [--events 500] [--meetings 200]
        [--concurrency 1,4,8] [--latency-ms 10] [--fault-rate 0.05] [--burst-s 2]
        [--retry-after 1] [--faults 429,burst] [--file-kb 8]
        [--services google,dropbox,gotomeeting] [--json PATH]

Against the local stand-ins on 127.0.0.1 (Dropbox over TLS), through the real connectors: one
person over ``--files`` Drive files, ``--files`` Dropbox files, ``--events`` Calendar events and
``--meetings`` GoToMeeting meetings, with other people's items around. Each run (a spawned
process: stand-in, seed, find → erase → verify) is timed with the server's own counters: requests,
429s answered, peak concurrent requests, most requests in any 1-s window. Google and Dropbox run
clean at each ``--concurrency``, then at the connectors' default of 4 with injected 429s with
``Retry-After``: "429" answers ``--fault-rate`` of requests so, "burst" every request for
``--burst-s`` seconds. GoToMeeting runs the same against a stand-in that enforces 10 requests/s.
Every request waits ``--latency-ms`` at the server, as a network round trip would.
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

from bench.report import started
from bench.services import worker as services_worker
from bench.services.report import (
    concurrency_table,
    erasure_table,
    export_table,
    gotomeeting_table,
    label,
    results_table,
)
from bench.services.summary import summary

SERVICES = ("google", "dropbox", "gotomeeting")
DEFAULT_CONCURRENCY = 4  # the connectors' default


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench services", description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=1000, help="her Drive files, and Dropbox files")
    p.add_argument("--events", type=int, default=500, help="her Calendar events")
    p.add_argument("--meetings", type=int, default=200, help="her GoToMeeting meetings")
    p.add_argument("--concurrency", default="1,4,8", help="Google/Dropbox concurrency sweep")
    p.add_argument("--latency-ms", type=float, default=10.0, help="server delay per request")
    p.add_argument("--fault-rate", type=float, default=0.05, help="share of requests given 429")
    p.add_argument("--burst-s", type=float, default=2.0, help="burst: every request 429 for s")
    p.add_argument("--retry-after", type=float, default=1.0, help="Retry-After of the 429s, s")
    p.add_argument("--faults", default="429,burst", help="fault scenarios: 429, burst or none")
    p.add_argument("--file-kb", type=int, default=8, help="her files are file-kb/8..file-kb KiB")
    p.add_argument("--goto-limit", type=int, default=10, help="GoToMeeting requests per second")
    p.add_argument("--services", default=",".join(SERVICES), help="subset to run")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", metavar="PATH", type=Path, help="write the figures here")
    return p.parse_args(argv)


def plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    base = {
        "files": args.files,
        "events": args.events,
        "meetings": args.meetings,
        "latency_ms": args.latency_ms,
        "rate": args.fault_rate,
        "retry_after": args.retry_after,
        "seed": args.seed,
        "goto_limit": args.goto_limit,
        "burst_s": args.burst_s,
        "file_kb": args.file_kb,
    }
    wanted = [s for s in args.services.split(",") if s]
    unknown = set(wanted) - set(SERVICES)
    if unknown:
        raise SystemExit(f"unknown services: {sorted(unknown)}")
    faults = [f for f in args.faults.split(",") if f in ("429", "burst")]
    sweep = sorted({int(c) for c in args.concurrency.split(",") if c})
    specs = []
    for service in wanted:
        levels = sweep if service != "gotomeeting" else [DEFAULT_CONCURRENCY]
        specs += [
            {**base, "service": service, "scenario": "clean", "concurrency": c} for c in levels
        ]
        specs += [
            {**base, "service": service, "scenario": f, "concurrency": DEFAULT_CONCURRENCY}
            for f in faults
        ]
    return specs


def measure(specs: list[dict[str, Any]], progress: Progress, save: Any) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for spec in specs:
        name = f"{spec['service']} c={spec['concurrency']} {spec['scenario']}"
        task = progress.add_task(name, total=None)

        def tick(done: int, total: int, what: str, task: Any = task, name: str = name) -> None:
            progress.update(task, completed=done, total=total, description=f"{name}: {what}")

        start = perf_counter()
        run = services_worker.run(spec, tick)
        run["wall_s"] = perf_counter() - start
        runs.append(run)
        done = f"{label(run)}: done in {run['wall_s']:.0f} s (seeding and process start included)"
        progress.update(task, description=done)
        progress.console.log(done)  # logged as well as drawn: a redirected run shows this only
        save(runs)
    return runs


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    console = Console(width=None if sys.stdout.isatty() else 200)
    results: dict[str, Any] = {
        **started(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "peak_rss": "VmHWM of a fresh spawned process per run (stand-in and its data included); "
        "start = VmRSS after imports",
        "runs": [],
    }

    def save(runs: list[dict[str, Any]]) -> None:
        results["runs"] = runs
        if args.json:  # after every run, so an interrupted benchmark keeps what it measured
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1, default=str))

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    start = perf_counter()
    with Progress(*columns, console=console) as progress:
        runs = measure(plan(args), progress, save)
    scenarios = {r["spec"]["scenario"] for r in runs}
    faults = "; 429 runs: " + f"{args.fault_rate:.0%} of requests" if "429" in scenarios else ""
    if "burst" in scenarios:
        faults += f"; burst runs: every request for {args.burst_s:g} s from the 50th on"
    if faults:
        faults += f"; Retry-After {args.retry_after:g} s"
    console.print(
        f"one person: {args.files} Drive files, {args.files} Dropbox files, {args.events} events, "
        f"{args.meetings} meetings, files up to {args.file_kb} KiB; server latency "
        f"{args.latency_ms:g} ms per request{faults}; total {perf_counter() - start:.0f} s"
    )
    for table in (
        export_table(runs),
        erasure_table(runs),
        concurrency_table(runs),
        gotomeeting_table(runs),
        results_table(runs),
    ):
        if table.row_count:
            console.print(table)
    console.print("[bold]what this shows[/bold]")
    for line in summary(runs):
        console.print(f"• {line}")
    return 0
