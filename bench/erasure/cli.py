"""Benchmark erasure: one subject, and a batch in one transaction, on 100k → 1M contacts.

    .venv/bin/python -m bench erasure [--sizes 100000,1000000] [--batch 1000] [--singles 4]
        [--verify-sample 200] [--postgres ADMIN_URL | --start-postgres]
        [--physical vacuum_full,vacuum] [--json PATH]

Per size: the cached two-region demo CRM of ``python -m bench access`` (seeded once if missing),
and per measurement a fresh copy of it (an erasure changes data; the cache is never touched). Each
measurement runs in a fresh spawned process: the single-subject erasures (the demo person in
``user_account`` scope, then synthetic contacts in ``client_data`` scope, each resolved, found,
erased, re-searched and given a signed proof), or the batch (contacts of the largest Client, one
transaction per database, then a re-search and a proof per subject). On PostgreSQL each
measurement runs once per ``--physical`` mode; on SQLite the mode is moot (a WAL checkpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

import sqlalchemy
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import crm_cache
from bench.erasure import worker as erasure_worker
from bench.erasure.copies import postgres_copy, sqlite_copy
from bench.erasure.growth import growth_lines, vacuum_lines
from bench.erasure.report import (
    batch_detail_table,
    batch_table,
    memory_table,
    physical_table,
    single_table,
    stages_table,
)
from bench.report import size_label, started
from bench.subjects import Cast, pick
from dsr.settings import DEMO_DATAMAP
from resources.engines import engine_for

RUNS = ("single", "batch")
PHYSICAL = ("vacuum_full", "vacuum", "none")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench erasure", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="100000,1000000", help="contacts per region")
    p.add_argument("--batch", type=int, default=1000, help="subjects erased in one transaction")
    p.add_argument("--singles", type=int, default=4, help="synthetic contacts erased one by one")
    p.add_argument(
        "--verify-sample",
        type=int,
        default=200,
        help="batch subjects re-searched one by one with CrmEraser.verify (0: all)",
    )
    p.add_argument("--seed", type=int, default=42)
    server = p.add_mutually_exclusive_group()
    server.add_argument("--postgres", metavar="ADMIN_URL", help="admin URL of a PostgreSQL server")
    server.add_argument(
        "--start-postgres", action="store_true", help="start a throwaway server (tests/pg_server)"
    )
    p.add_argument("--physical", default="vacuum_full,vacuum", help="PostgreSQL cleanup modes")
    p.add_argument("--runs", default=",".join(RUNS), help=f"subset of {','.join(RUNS)}")
    p.add_argument("--json", metavar="PATH", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    bad = [m for m in args.physical.split(",") if m not in PHYSICAL]
    if bad:
        p.error(f"--physical: unknown {', '.join(bad)} (choose from {', '.join(PHYSICAL)})")
    return args


def _specs(cast: Cast, kind: str) -> dict[str, Any]:
    if kind == "single":
        demo = cast.singles["user_account"][0]
        subjects = [{**demo.__dict__, "scope": "user_account"}]
        contacts = cast.singles["client_data"][1:]  # [0] is the demo person again
        subjects += [{**s.__dict__, "scope": "client_data"} for s in contacts]
        return {"subjects": subjects}
    b = next(b for b in cast.batches if b.scope == "client_data")
    subjects = [s.__dict__ for s in b.subjects]
    return {"subjects": subjects, "scope": b.scope, "client_id": b.client_id}


class Runner:
    def __init__(self, args: argparse.Namespace, admin_url: str | None, progress: Progress) -> None:
        self.args, self.admin_url, self.progress = args, admin_url, progress
        self.backend = "postgresql" if admin_url else "sqlite"

    def _bar(self, description: str) -> Callable[[int, int, str], None]:
        task = self.progress.add_task(description, total=None)

        def update(done: int, total: int, what: str) -> None:
            self.progress.update(task, completed=done, total=total,
                                 description=f"{description}: {what}")  # fmt: skip

        return update

    def _cached(self, size: int) -> dict[str, str]:
        label = size_label(size)
        bars = {r: self._bar(f"{label} seed {r}") for r in crm_cache.REGIONS}

        def seeded(region: str, done: int, total: int, stage: str) -> None:
            bars[region](done, total, stage)

        if self.admin_url:
            urls = crm_cache.postgres_urls(self.admin_url, size, self.args.seed, seeded)
        else:
            urls = crm_cache.sqlite_urls(size, self.args.seed, seeded)
        for url in urls.values():
            # Seeding leaves its pooled connection open; a template must have no session.
            engine_for(url).dispose()
        return urls

    def _copy(
        self, urls: dict[str, str], description: str
    ) -> AbstractContextManager[dict[str, str]]:
        bar = self._bar(description)
        if self.admin_url:
            return postgres_copy(self.admin_url, urls, bar)
        return sqlite_copy(urls, lambda done, total, what: bar(done >> 20, total >> 20, what))

    def size(self, size: int, save: Callable[[], None], out: dict[str, Any]) -> None:
        label, log = size_label(size), self.progress.console.log
        start = perf_counter()
        urls = self._cached(size)
        out["seed_or_reuse_s"] = perf_counter() - start
        log(f"{self.backend} {label}: cached CRM ready in {out['seed_or_reuse_s']:.0f} s")
        modes = self.args.physical.split(",")
        modes = modes if self.backend == "postgresql" else modes[:1]
        cast: Cast | None = None
        for kind in self.args.runs.split(","):
            for physical in modes:
                mode = physical if self.backend == "postgresql" else "WAL checkpoint"
                name = f"{label} {kind} ({mode})"
                start = perf_counter()
                with self._copy(urls, f"{name} fresh copy") as copies:
                    copy_s = perf_counter() - start
                    if cast is None:
                        cast = self._pick(copies, size)
                    spec = {
                        "urls": copies,
                        "datamap": str(DEMO_DATAMAP),
                        "physical": physical,
                        "verify_sample": self.args.verify_sample,
                        **_specs(cast, kind),
                    }
                    start = perf_counter()
                    try:
                        figures = erasure_worker.run(kind, spec, self._bar(name))
                    except RuntimeError as exc:  # reported, and the other runs still go on
                        out.setdefault("errors", {})[f"{kind}/{physical}"] = str(exc)
                        log(f"{name}: FAILED\n{exc}")
                        save()
                        continue
                    figures.update(copy_s=copy_s, wall_s=perf_counter() - start)
                out["runs"].setdefault(kind, {})[physical] = figures
                log(f"{name}: copy {copy_s:.0f} s, measured in {figures['wall_s']:.0f} s")
                save()

    def _pick(self, copies: dict[str, str], size: int) -> Cast:
        a = self.args
        cast = pick(copies, size, a.seed, a.singles, a.batch)
        for url in copies.values():
            engine_for(url).dispose()  # no connection of ours may outlive the copy
        return cast


@contextmanager
def _server(args: argparse.Namespace, console: Console) -> Iterator[str | None]:
    if not args.start_postgres:
        yield args.postgres
        return
    from tests.pg_server import start

    server = start()
    console.log(f"throwaway PostgreSQL on port {server.port} ({server.base_dir})")
    try:
        yield server.admin_url
    finally:
        server.stop()
        console.log("throwaway PostgreSQL stopped and removed")


def render(console: Console, backend: str, sizes: dict[int, dict[str, Any]]) -> None:
    tables = (single_table, batch_table, batch_detail_table, stages_table, memory_table,
              physical_table)  # fmt: skip
    for build in tables:
        console.print(build(sizes, backend))
    for line in vacuum_lines(sizes) + growth_lines(sizes):
        console.print(line)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    console = Console(width=None if sys.stdout.isatty() else 240)
    results: dict[str, Any] = {
        **started(),
        "sqlalchemy": sqlalchemy.__version__,
        "batch": args.batch,
        "singles": args.singles,
        "seed": args.seed,
        "verify_sample": args.verify_sample,
        "physical_note": "on SQLite every mode is a WAL checkpoint (TRUNCATE): run once, keyed "
        "by the first --physical mode",
        "peak_rss": "VmHWM of a fresh spawned process, reset (clear_refs 5) before each phase",
        "sizes": {},
    }

    def save() -> None:  # after every run, so an interrupted 1M run keeps what it measured
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1, default=str))

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with _server(args, console) as admin_url, Progress(*columns, console=console) as progress:
        runner = Runner(args, admin_url, progress)
        results["backend"] = runner.backend
        for size in (int(s) for s in args.sizes.split(",") if s):
            out = results["sizes"].setdefault(size, {"runs": {}})
            runner.size(size, save, out)
    render(console, results["backend"], results["sizes"])
    return 0
