"""What the deadline sensor costs per tick as the ledger grows.

``python -m bench deadlines --sizes 1000,10000,50000`` registers that many requests (a tenth of
them fulfilled, receipt spread over the last 40 days) in a fresh SQLite ledger, then times what one
``deadline_watch`` tick does: read the open requests and judge their due dates.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from time import perf_counter

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import create_engine, insert, select

from connectors.base import Identity
from dsr.keys import KeyRing
from dsr.ledger import Ledger, RequestType, Scope, State
from dsr.ledger.deadlines import Urgency, late_requests
from dsr.ledger.schema import requests


def _fill(ledger: Ledger, url: str, n: int, now: datetime) -> None:
    """One request registered the normal way, the rest copied from it in bulk (ids, dates and
    states varied), so a 50k-request ledger takes seconds rather than an audit entry each."""
    first = ledger.register(
        type=RequestType.ACCESS, scope=Scope.USER_ACCOUNT, identities=[Identity("email", "a@b.org")]
    )
    engine = create_engine(url)
    with engine.connect() as conn:
        query = select(requests).where(requests.c.request_id == first.request_id)
        template = dict(conn.execute(query).mappings().one())
    rng = random.Random(7)
    rows = []
    for i in range(1, n):
        received = now - timedelta(minutes=rng.randrange(40 * 24 * 60))
        rows.append(
            {
                **template,
                "request_id": f"r-{received:%Y%m%d}-{i:08x}",
                "received_at": received,
                "due_at": received + timedelta(days=30),
                "state": State.FULFILLED.value if i % 10 == 0 else State.RECEIVED.value,
            }
        )
    with engine.begin() as conn:
        for chunk in range(0, len(rows), 5000):
            conn.execute(insert(requests), rows[chunk : chunk + 5000])
    engine.dispose()


def tick(ledger: Ledger, now: datetime) -> tuple[int, int]:
    """What ``deadline_watch`` reads and computes at each tick."""
    alerts = late_requests(ledger, now, 5)
    return len(alerts), sum(a.urgency is Urgency.OVERDUE for a in alerts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench deadlines", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    console = Console()
    table = Table(title="deadline_watch: one tick")
    for col in ("requests", "alerts", "overdue", "median ms", "ms / 1k requests", "peak MB"):
        table.add_column(col, justify="right")
    now = datetime.now(UTC)
    with Progress(console=console, transient=True) as progress:
        for n in (int(s) for s in args.sizes.split(",")):
            task = progress.add_task(f"{n:,} requests", total=args.repeat + 1)
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{Path(tmp) / 'ledger.sqlite'}"
                ledger = Ledger(url, KeyRing(Path(tmp) / "keys"))
                ledger.create_schema()
                _fill(ledger, url, n, now)
                progress.advance(task)
                times = []
                for _ in range(args.repeat):
                    start = perf_counter()
                    alerts, overdue = tick(ledger, now)
                    times.append((perf_counter() - start) * 1000)
                    progress.advance(task)
                # Measured apart: tracemalloc slows every allocation several times over.
                tracemalloc.start()
                tick(ledger, now)
                peak = tracemalloc.get_traced_memory()[1] / 1e6
                tracemalloc.stop()
                ledger.close()
            ms = median(times)
            table.add_row(
                f"{n:,}",
                f"{alerts:,}",
                f"{overdue:,}",
                f"{ms:.1f}",
                f"{ms / n * 1000:.2f}",
                f"{peak:.1f}",
            )
    console.print(table)
