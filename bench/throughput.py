"""Benchmark requests per second through the product's own Dagster batch jobs.

    .venv/bin/python -m bench throughput [--contacts 100000] [--requests 1000] [--singles 3]
        [--instance-postgres] [--json PATH]

A fresh home seeded with the demo CRM (us + eu, ``--contacts`` each, services on as the demo
has them: the local stand-ins for Google, Dropbox and GoToMeeting), then, as a user with a
backlog would: ``dsr access --from-csv`` with N Users (each its own request, registered and
fulfilled in batch runs of DSR_BATCH_SIZE), then ``dsr erase --from-csv`` with N other Users. Each
command is a separate process; its wall time, its peak RSS and the batch runs' own
``seconds_per_stage`` are reported, and the same for ``--singles`` requests one ``dsr`` call at a
time for comparison. The demo person is in every CSV, so every batch also reaches the services.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dsr.democrm.planted import DEMO_EMAIL

VERIFIED_BY = "bench-agent"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench throughput", description=__doc__.split("\n")[0]
    )
    p.add_argument("--contacts", type=int, default=100_000, help="demo contacts per region")
    p.add_argument("--requests", type=int, default=1000, help="requests of each kind")
    p.add_argument("--singles", type=int, default=3, help="one-at-a-time requests, each kind")
    p.add_argument("--batch-size", type=int, default=200, help="DSR_BATCH_SIZE")
    p.add_argument(
        "--instance-postgres",
        action="store_true",
        help="keep Dagster's runs and events in a throwaway PostgreSQL (DSR_DAGSTER_STORAGE_URL) "
        "instead of SQLite files under DAGSTER_HOME",
    )
    p.add_argument("--json", metavar="PATH", type=Path, help="write the figures here")
    return p.parse_args(argv)


def _dsr(env: dict[str, str], *args: str) -> tuple[float, float, dict[str, Any]]:
    """(seconds, peak RSS in MB, the JSON it printed) of one `dsr` process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dsr.cli.main", *args, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # wait4 gives this child's own peak RSS (RUSAGE_CHILDREN would keep the largest so far).
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        payload = json.loads(out)
    except ValueError:
        command = " ".join(args)
        raise SystemExit(f"dsr {command} printed no JSON (exit {proc.returncode}): {err}") from None
    return seconds, usage.ru_maxrss / 1024, payload


def _users(home: Path, want: int) -> list[str]:
    """Synthetic Users' e-mails from both regions (user_account requests), sorted for repeats."""
    import sqlite3

    emails: list[str] = []
    for region in ("us", "eu"):
        conn = sqlite3.connect(f"file:{home / 'crm' / f'{region}.sqlite'}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT DISTINCT email FROM users WHERE email LIKE '%@%' ORDER BY id"
            ).fetchall()
        finally:
            conn.close()
        emails += [r[0] for r in rows]
    emails = sorted({e.strip().lower() for e in emails} - {DEMO_EMAIL})
    if len(emails) < want:
        raise SystemExit(f"only {len(emails)} Users in the demo CRM; use more --contacts")
    return emails[:want]


def _csv(path: Path, emails: list[str], *, verified: bool) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "verified_by"] if verified else ["email"])
        for email in emails:
            writer.writerow([email, VERIFIED_BY] if verified else [email])
    return path


def _stages(env: dict[str, str], request_ids: set[str]) -> dict[str, float]:
    """Seconds per stage summed over the batch runs holding these requests (their metadata)."""
    from dagster import DagsterEventType, DagsterInstance

    if "DSR_DAGSTER_STORAGE_URL" in env:  # dagster.yaml names the variable, not the URL
        os.environ["DSR_DAGSTER_STORAGE_URL"] = env["DSR_DAGSTER_STORAGE_URL"]
    instance = DagsterInstance.from_config(env["DAGSTER_HOME"])
    totals: dict[str, float] = {}
    for run in instance.get_runs():
        held = set(run.tags.get("dsr/batch_requests", "").split(","))
        if not held & request_ids:
            continue
        for record in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_OUTPUT):
            data = record.dagster_event.event_specific_data  # type: ignore[union-attr]
            stages = (data.metadata or {}).get("seconds_per_stage")
            for stage, seconds in (stages.value if stages is not None else {}).items():
                totals[stage] = totals.get(stage, 0.0) + float(seconds)
    instance.dispose()
    return {k: round(v, 2) for k, v in totals.items()}


@contextmanager
def _instance_storage(args: argparse.Namespace, console: Console) -> Iterator[dict[str, str]]:
    """The environment that puts the Dagster instance in a throwaway PostgreSQL, if asked."""
    if not args.instance_postgres:
        yield {}
        return
    from tests.pg_server import start

    server = start()
    database = server.create_database()
    console.print(f"Dagster instance storage: throwaway PostgreSQL on port {server.port}")
    try:
        yield {"DSR_DAGSTER_STORAGE_URL": server.url(database, driver="postgresql+psycopg2")}
    finally:
        server.stop()


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    with _instance_storage(args, console) as storage:
        return _run(args, console, storage)


def _run(args: argparse.Namespace, console: Console, storage: dict[str, str]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="dsr-throughput-"))
    home = work / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_") and k != "DAGSTER_HOME"}
    env |= {
        "DSR_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "DSR_BATCH_SIZE": str(args.batch_size),
        **storage,
    }
    console.print(f"seeding the demo CRM ({args.contacts:,} contacts per region) in {home}")
    seeded, _, _ = _dsr(env, "seed", "--contacts", str(args.contacts))
    people = _users(home, 2 * args.requests + 2 * args.singles)
    access_people = [DEMO_EMAIL, *people[: args.requests - 1]]
    erase_people = people[args.requests : 2 * args.requests]
    singles = people[2 * args.requests :]
    figures: dict[str, Any] = {
        "contacts_per_region": args.contacts,
        "requests": args.requests,
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "instance_storage": "postgresql" if storage else "sqlite",
        "seed_seconds": round(seeded, 1),
    }
    for kind, command, emails, verified in (
        ("access", "access", access_people, False),
        ("erasure", "erase", erase_people, True),
    ):
        path = _csv(work / f"{kind}.csv", emails, verified=verified)
        console.print(f"{kind}: {len(emails)} requests from {path.name} …")
        seconds, rss, payload = _dsr(env, command, "--from-csv", str(path))
        ids = set(payload.get("request_ids", []))
        figures[kind] = {
            "seconds": round(seconds, 1),
            "requests_per_second": round(len(ids) / seconds, 2),
            "peak_rss_mb": round(rss),
            "states": payload.get("states"),
            "rejected": len(payload.get("rejected", [])),
            "seconds_per_stage": _stages(env, ids),
        }
        one = singles[: args.singles] if kind == "access" else singles[args.singles :]
        times = []
        for email in one:
            extra = ("--verified-by", VERIFIED_BY) if verified else ()
            times.append(_dsr(env, command, "--email", email, *extra)[0])
        if times:
            median = statistics.median(times)
            figures[kind]["single_median_seconds"] = round(median, 1)
            figures[kind]["single_requests_per_second"] = round(1 / median, 3)
    return figures


def render(console: Console, figures: dict[str, Any]) -> None:
    table = Table(
        title=f"{figures['requests']} requests of each kind, demo CRM "
        f"{figures['contacts_per_region']:,} contacts per region, batches of "
        f"{figures['batch_size']}, Dagster instance on {figures['instance_storage']}, "
        f"{figures['cpus']} CPUs"
    )
    for column in ("kind", "wall s", "req/s", "peak RSS MB", "states", "one at a time"):
        table.add_column(column)
    for kind in ("access", "erasure"):
        f = figures[kind]
        table.add_row(
            kind,
            str(f["seconds"]),
            str(f["requests_per_second"]),
            str(f["peak_rss_mb"]),
            ", ".join(f"{n} {s}" for s, n in sorted((f["states"] or {}).items())),
            f"{f.get('single_median_seconds', '-')} s each "
            f"({f.get('single_requests_per_second', '-')} req/s)",
        )
    console.print(table)
    for kind in ("access", "erasure"):
        stages = figures[kind]["seconds_per_stage"]
        line = ", ".join(f"{k} {v} s" for k, v in stages.items()) or "none recorded"
        console.print(f"{kind} batch stages (summed over runs): {line}")


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    console = Console()
    figures = run(args, console)
    render(console, figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0
