"""Discovery against the raw-SQL floor: how much slower is one access request's discovery than the
statements a DBA would write by hand for the same question (issue 11: within 2×)?

    .venv/bin/python -m bench floor [--contacts 10000,100000] [--people 200] [--batch 1000]
        [--helpdesk 100000] [--postgres [--postgres-url URL]] [--json PATH]

Per demo-CRM size (contacts per region, two regions, seeded once and cached by
``bench.crm_cache``) and for the help desk (a foreign schema mapped only by
``tests/data/helpdesk.datamap.yaml``, ``bench.floor.desk``): single people (median and p95 ms per
person) and one batch of many people (ms per person), ``user_account`` and ``client_data``.
The floor (``bench.floor.crm``, ``bench.floor.desk``) must find the same rows as discovery for
every person asked about, or no ratio is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import crm_cache
from bench.floor import crm as floor_crm
from bench.floor import desk as floor_desk
from bench.floor.report import growth_lines, ratio_table
from bench.floor.run import Case, FloorFn, Mismatch, Statements, batch, singles
from bench.report import run_header, size_label
from bench.subjects import pick
from connectors.crm.datamap import DataMap, load_datamap
from connectors.crm.match_sql import folds_unicode
from connectors.crm.sql import CrmSqlConnector
from dsr.settings import DEMO_DATAMAP
from resources.engines import engine_for


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench floor", description=__doc__.split("\n")[0])
    p.add_argument("--contacts", default="10000,100000", help="demo CRM sizes, per region")
    p.add_argument("--people", type=int, default=200, help="single people sampled per scope")
    p.add_argument("--batch", type=int, default=1000, help="people in the batched call")
    p.add_argument("--helpdesk", type=int, default=100_000, help="help-desk tickets (0: skip)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    p.add_argument("--postgres-url", metavar="URL", help="admin URL (default: a throwaway server)")
    p.add_argument("--json", metavar="PATH", type=Path, help="write the figures here")
    return p.parse_args(argv)


@contextmanager
def _server(args: argparse.Namespace) -> Iterator[Any]:
    """The admin URL of the PostgreSQL to seed in, or None for SQLite."""
    if not args.postgres or args.postgres_url:
        yield args.postgres_url
        return
    from tests.pg_server import start

    server = start()
    try:
        yield server.url("postgres")
    finally:
        server.stop()


def _connectors(urls: dict[str, str], dm: DataMap) -> list[CrmSqlConnector]:
    out = [CrmSqlConnector(r, engine_for(u), dm) for r, u in urls.items()]
    for c in out:
        folds_unicode(c.engine)  # asked once per process: not a cost of the first request
        for name in dm.tables:
            c.table(name)  # reflected before timing, so requests time queries, not reflection
    return out


def compare_all(
    connectors: list[CrmSqlConnector],
    fn: FloorFn,
    single_cases: dict[str, list[Case]],
    batch_cases: dict[str, Case],
    tick: Callable[[int, int, str], None],
) -> dict[str, Any]:
    counter = Statements([c.engine for c in connectors])
    out: dict[str, Any] = {}
    for scope, cases in single_cases.items():
        try:
            out[scope] = {"single": singles(connectors, fn, counter, cases, tick)}
            out[scope]["batch"] = batch(connectors, fn, counter, batch_cases[scope])
        except Mismatch as exc:
            out[scope] = {"mismatch": str(exc)}
    return out


def run_crm(args: argparse.Namespace, admin: str | None, size: int, progress: Progress) -> dict:
    label = size_label(size)
    task = progress.add_task(f"{label} seed", total=None)

    def seeded(region: str, done: int, total: int, stage: str) -> None:
        progress.update(task, completed=done, total=total, description=f"{label} {region}: {stage}")

    start = perf_counter()
    if admin:
        urls = crm_cache.postgres_urls(admin, size, args.seed, seeded)
    else:
        urls = crm_cache.sqlite_urls(size, args.seed, seeded)
    seed_s = perf_counter() - start
    progress.console.log(f"demo CRM {label}: databases ready in {seed_s:.0f} s")
    cast = pick(urls, size, args.seed, args.people, args.batch)
    dm = load_datamap(DEMO_DATAMAP)
    connectors = _connectors(urls, dm)
    fn = floor_crm.for_datamap(dm, connectors[0].folds_unicode)
    single_cases = {
        scope: [Case(scope, s.client_id, {s.key: s.email}) for s in subjects]
        for scope, subjects in cast.singles.items()
    }
    batch_cases = {b.scope: Case(b.scope, b.client_id, {s.key: s.email for s in b.subjects})
                   for b in cast.batches}  # fmt: skip
    run = progress.add_task(f"{label} measure", total=None)

    def tick(done: int, total: int, what: str) -> None:
        progress.update(run, completed=done, total=total, description=f"{label} {what}")

    out = compare_all(connectors, fn, single_cases, batch_cases, tick)
    for c in connectors:
        c.engine.dispose()
    return {"schema": "democrm", "size": size, "seed_or_reuse_s": seed_s, "scopes": out}


def run_desk(args: argparse.Namespace, admin: str | None, progress: Progress) -> dict:
    start = perf_counter()
    urls = floor_desk.databases(args.helpdesk, args.seed, admin)
    seed_s = perf_counter() - start
    progress.console.log(f"help desk {args.helpdesk:,} tickets: ready in {seed_s:.0f} s")
    dm = load_datamap(floor_desk.DATAMAP)
    connectors = _connectors(urls, dm)
    people = floor_desk.people(urls, args.seed, max(args.people, args.batch))
    single_cases = {"all": [Case("all", None, {k: e}) for k, e in people[: args.people]]}
    batch_cases = {"all": Case("all", None, dict(people[: args.batch]))}
    run = progress.add_task("help desk measure", total=None)

    def tick(done: int, total: int, what: str) -> None:
        progress.update(run, completed=done, total=total, description=f"help desk {what}")

    fn = floor_desk.for_datamap(dm, connectors[0].folds_unicode)
    out = compare_all(connectors, fn, single_cases, batch_cases, tick)
    for c in connectors:
        c.engine.dispose()
    return {"schema": "helpdesk", "size": args.helpdesk, "seed_or_reuse_s": seed_s, "scopes": out}


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    console = Console(width=None if sys.stdout.isatty() else 200)
    backend = "postgresql" if args.postgres else "sqlite"
    results: dict[str, Any] = {
        **run_header(backend),
        "people": args.people,
        "batch": args.batch,
        "seed": args.seed,
        "runs": [],
    }
    sizes = [int(s) for s in args.contacts.split(",") if s]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with _server(args) as admin, Progress(*columns, console=console) as progress:
        jobs: list[Callable[[], dict]] = [
            lambda size=size: run_crm(args, admin, size, progress) for size in sizes
        ]
        if args.helpdesk:
            jobs.append(lambda: run_desk(args, admin, progress))
        for job in jobs:
            results["runs"].append(job())
            if args.json:  # after every run, so an interrupted 1M run keeps the smaller ones
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(results, indent=1, default=str))
    console.print(ratio_table(backend, results["runs"]))
    for line in growth_lines(results["runs"]):
        console.print(line)
    mismatched = [
        (run["schema"], run["size"], scope, figures["mismatch"])
        for run in results["runs"]
        for scope, figures in run["scopes"].items()
        if "mismatch" in figures
    ]
    for schema, size, scope, why in mismatched:
        console.print(f"[red]no ratio for {schema} {size:,} {scope}: the floor differs: {why}")
    return 1 if mismatched else 0
