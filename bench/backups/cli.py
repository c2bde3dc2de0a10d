"""Benchmark: D daily backups of an N-contact CRM region, and "which backups hold this person?".

    .venv/bin/python -m bench backups --contacts 100000,1000000 --days 30

Per size: the seeded CRM (``bench.crm_cache``, reused between runs) is copied to a work folder
(the cache is never changed), then for each day a few rows change (0.05% of contacts get a new
e-mail address and phone, as a day of CRM use would) and a backup is taken in a fresh process:
backup time, the identity-index build inside it, archive and index sizes, peak RSS. Then the
question is answered both ways for the planted person and a few synthetic contacts: through the
indexes of all D backups, and by unpacking one backup and searching it with the CRM connector
(the floor of a restore: no re-erasure), extrapolated to D backups. With ``--compare-index`` the
index scan of the first day is also timed with the previous normalisation (``harvest_identity``
and ``KeyRing.keyed_hash`` per value) and both digests are checked equal.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import column, create_engine, func, select, table, update
from sqlalchemy.pool import NullPool

from bench.backups.worker import lookup, restore_and_search, snapshot
from bench.child import run_child
from bench.crm_cache import CACHE_DIR, sqlite_urls

console = Console(width=160)
DAY0 = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
CHANGED_SHARE = 0.0005


def _quiet(*_: Any) -> None:
    pass


def _work_copy(size: int, seed_value: int, work: Path) -> Path:
    source = Path(sqlite_urls(size, seed_value, _quiet)["us"].removeprefix("sqlite:///"))
    work.mkdir(parents=True, exist_ok=True)
    copy = work / "us.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, copy)
    return copy


def _day_of_changes(path: Path, day: int) -> int:
    """A day's edits: a slice of contacts gets a new (synthetic) e-mail address and phone."""
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    contacts = table("contacts", column("id"), column("email"), column("phone"))
    try:
        with engine.begin() as conn:
            total = conn.execute(select(func.count()).select_from(contacts)).scalar_one()
            n = max(1, int(total * CHANGED_SHARE))
            ids = (
                conn.execute(select(contacts.c.id).order_by(contacts.c.id).offset(day * n).limit(n))
                .scalars()
                .all()
            )
            for cid in ids:
                conn.execute(
                    update(contacts)
                    .where(contacts.c.id == cid)
                    .values(
                        email=f"moved.{day}.{cid}@bench.example", phone=f"+1206555{cid % 10000:04d}"
                    )
                )
            return len(ids)
    finally:
        engine.dispose()


def _probe_emails(path: Path) -> list[str]:
    from dsr.democrm.planted import DEMO_EMAIL

    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    contacts = table("contacts", column("id"), column("email"))
    try:
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(contacts)).scalar_one()
            picks = [
                conn.execute(
                    select(contacts.c.email).order_by(contacts.c.id).offset(i).limit(1)
                ).scalar_one()
                for i in (total // 3, total // 2, (2 * total) // 3, total - 10)
            ]
    finally:
        engine.dispose()
    return [DEMO_EMAIL, *(p for p in picks if p), "nobody.at.all@bench.example"]


def compare_index(path: Path, keys_dir: Path) -> dict[str, Any]:
    """The index scan before (harvest_identity + keyed_hash per value) and now: same digests?"""
    from connectors.backups import index as backup_index
    from connectors.backups.index import collect_digests, scan_identities
    from connectors.crm.datamap import load_datamap
    from connectors.identities import harvest_identity
    from dsr.keys import KeyRing
    from dsr.settings import DEMO_DATAMAP

    keys, datamap = KeyRing(keys_dir), load_datamap(DEMO_DATAMAP)
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)

    class Previous:  # the normalisation the index used before this change: no fast path, no memo
        def __init__(self, region: str) -> None:
            self.region = region

        def __call__(self, kind: str, raw: object) -> Any:
            return harvest_identity(kind, raw, self.region)

    try:
        with engine.connect() as conn:
            start, cpu = time.perf_counter(), time.process_time()
            now = collect_digests(conn, datamap, keys)
            now_s, now_cpu = time.perf_counter() - start, time.process_time() - cpu
            saved = backup_index.Harvester
            backup_index.Harvester = Previous  # type: ignore[misc,assignment]
            try:
                start, cpu = time.perf_counter(), time.process_time()
                before = bytearray()
                for _, ident in scan_identities(conn, datamap):
                    before += bytes.fromhex(keys.keyed_hash(ident.kind, ident.value))[:16]
                before_s, before_cpu = time.perf_counter() - start, time.process_time() - cpu
            finally:
                backup_index.Harvester = saved  # type: ignore[misc]
    finally:
        engine.dispose()
    # CPU seconds too: on a shared machine they move far less than wall time.
    return {
        "before_s": before_s,
        "now_s": now_s,
        "before_cpu_s": before_cpu,
        "now_cpu_s": now_cpu,
        "values": len(now) // 16,
        "equal": now == before,
    }


def _measure_lookups(
    out: dict[str, Any],
    root: Path,
    keys_dir: Path,
    emails: list[str],
    days_so_far: int,
    on_checkpoint: Any,
) -> None:
    """Both ways of answering, with the backups taken so far (restore: once, it is per backup)."""
    out["lookup"] = run_child(lookup, (str(root), str(keys_dir), emails, 5), "lookup", _quiet)
    out["lookup_at_days"] = days_so_far
    if "restore" not in out:
        first = sorted((root / "us").glob("*.sqlite.gz"))[0]
        out["restore"] = run_child(
            restore_and_search, (str(first), emails), "restore", _quiet, join_timeout=120
        )
    on_checkpoint(out)


def run_size(
    size: int,
    days: int,
    seed_value: int,
    work_root: Path,
    compare: bool,
    checkpoints: set[int] = frozenset(),  # type: ignore[assignment]
    on_checkpoint: Any = _quiet,
) -> dict:
    work = work_root / f"backups-{size}"
    shutil.rmtree(work, ignore_errors=True)
    crm = _work_copy(size, seed_value, work)
    root, keys_dir = work / "store", work / "keys"
    from dsr.keys import KeyRing

    KeyRing(keys_dir).keyed_hash("warm", "up")  # generate the keys once, outside the children
    out: dict[str, Any] = {"contacts": size, "days": days, "backups": []}
    if compare:
        out["index_compare"] = compare_index(crm, keys_dir)
        console.print(f"  index scan before/now: {out['index_compare']}")
    emails = _probe_emails(crm)
    for day in range(days):
        changed = _day_of_changes(crm, day) if day else 0
        when = (DAY0 + timedelta(days=day)).isoformat()
        fig = run_child(
            snapshot,
            (str(root), str(keys_dir), f"sqlite:///{crm}", when),
            "snapshot",
            _quiet,
            join_timeout=120,
        )
        fig["changed_contacts"] = changed
        out["backups"].append(fig)
        console.print(
            f"  day {day + 1}/{days}: backup {fig['backup_s']:.1f} s "
            f"(index {fig['index_s']:.1f} s), archive {fig['archive_bytes'] / 1e6:.0f} MB, "
            f"index {fig['index_bytes'] / 1e6:.1f} MB, peak RSS {fig['peak_rss_mb']:.0f} MB"
        )
        if day + 1 in checkpoints or day + 1 == days:
            _measure_lookups(out, root, keys_dir, emails, day + 1, on_checkpoint)
    shutil.rmtree(work, ignore_errors=True)
    return out


def summary(result: dict[str, Any]) -> dict[str, Any]:
    b, d = result["backups"], len(result["backups"])
    look, rest = result["lookup"], result["restore"]
    one = rest["unpack_s"] + median(rest["search_s"])
    return {
        "contacts": result["contacts"],
        "days": d,
        "backup_s": median(x["backup_s"] for x in b),
        "index_s": median(x["index_s"] for x in b),
        "archive_mb": median(x["archive_bytes"] for x in b) / 1e6,
        "index_mb": median(x["index_bytes"] for x in b) / 1e6,
        "index_entries": median(x["index_entries"] for x in b),
        "peak_rss_mb": max(x["peak_rss_mb"] for x in b),
        "lookup_ms": median(look["seconds"]) * 1000,
        "lookup_p95_ms": sorted(look["seconds"])[int(0.95 * (len(look["seconds"]) - 1))] * 1000,
        "held_by": look["held_by"],
        "restore_one_s": one,
        "unpack_s": rest["unpack_s"],
        "search_ms": median(rest["search_s"]) * 1000,
        "restore_all_s": one * d,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    t = Table(title="Backups: cost at backup time, and 'which backups hold this person?'")
    for name in (
        "contacts",
        "backup",
        "index build",
        "archive",
        "index",
        "peak RSS",
        "lookup (all D)",
        "restore+search one",
        "… × D",
    ):
        t.add_column(name, justify="right")
    for r in rows:
        t.add_row(
            f"{r['contacts']:,} × {r['days']} d",
            f"{r['backup_s']:.1f} s",
            f"{r['index_s']:.1f} s",
            f"{r['archive_mb']:.0f} MB",
            f"{r['index_mb']:.1f} MB ({r['index_entries']:,.0f})",
            f"{r['peak_rss_mb']:.0f} MB",
            f"{r['lookup_ms']:.2f} ms (p95 {r['lookup_p95_ms']:.2f})",
            f"{r['restore_one_s']:.1f} s",
            f"{r['restore_all_s']:.0f} s",
        )
    console.print(t)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench backups", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--contacts", default="100000", help="sizes, comma-separated")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=CACHE_DIR / "backups-work")
    parser.add_argument("--compare-index", action="store_true")
    parser.add_argument("--out", type=Path, default=CACHE_DIR / "results-backups.json")
    parser.add_argument(
        "--checkpoints", default="", help="also measure lookups after these days (e.g. 10,20)"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.contacts.split(",")]
    results, rows = {}, []
    out_file = args.out
    for size in sizes:
        console.print(f"[bold]{size:,} contacts, {args.days} daily backups[/]")
        checkpoints = {int(d) for d in args.checkpoints.split(",") if d}

        def save(partial: dict[str, Any], size: int = size) -> None:
            results[size] = partial
            done = [summary(results[s]) for s in results if "lookup" in results[s]]
            out_file.write_text(json.dumps({"raw": results, "summary": done}, indent=1))
            console.print(f"  checkpoint after {partial['lookup_at_days']} days: {done[-1]}")

        results[size] = run_size(
            size, args.days, args.seed, args.work, args.compare_index, checkpoints, save
        )
        rows.append(summary(results[size]))
        out_file.write_text(json.dumps({"raw": results, "summary": rows}, indent=1, default=str))
        print_table(rows)
    for small, large in itertools.pairwise(rows):
        f = large["contacts"] / small["contacts"]
        console.print(
            f"{small['contacts']:,} → {large['contacts']:,} ({f:.0f}×): backup "
            f"{large['backup_s'] / small['backup_s']:.1f}×, index build "
            f"{large['index_s'] / small['index_s']:.1f}×, archive "
            f"{large['archive_mb'] / small['archive_mb']:.1f}×, lookup "
            f"{large['lookup_ms'] / small['lookup_ms']:.1f}×, restore+search "
            f"{large['restore_one_s'] / small['restore_one_s']:.1f}×"
        )
    console.print(f"raw figures: {out_file}")
