"""What one child process of the backup benchmark does: a snapshot, a lookup, a restore-and-search.

Each runs in a fresh spawned process (``bench.child.run_child``) so its peak RSS is its own.
"""

from __future__ import annotations

import gzip
import resource
import shutil
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _identities(emails: list[str]) -> set[Any]:
    from connectors.identities import parse_identity

    return {parse_identity("email", e) for e in emails}


def snapshot(root: str, keys_dir: str, url: str, when: str, queue: Any) -> None:
    """Take one backup; report its total time, the index build inside it, sizes and peak RSS."""
    try:
        from connectors.backups.store import BackupStore
        from connectors.crm.datamap import load_datamap
        from dsr.keys import KeyRing
        from dsr.settings import DEMO_DATAMAP

        timing: dict[str, float] = {}

        class Timed(BackupStore):
            def _read(self, conn: Any, datamap: Any, region: str) -> Any:
                start = time.perf_counter()
                out = super()._read(conn, datamap, region)
                timing["index_s"] = time.perf_counter() - start
                return out

        store = Timed(Path(root), KeyRing(Path(keys_dir)))
        datamap = load_datamap(DEMO_DATAMAP)
        start = time.perf_counter()
        record = store.snapshot("us", url, datamap, now=datetime.fromisoformat(when))
        queue.put(
            (
                "done",
                {
                    "backup_id": record.backup_id,
                    "backup_s": time.perf_counter() - start,
                    "index_s": timing["index_s"],
                    "archive_bytes": record.size,
                    "index_bytes": record.index.stat().st_size,
                    "index_entries": record.index_entries,
                    "rows": sum(record.tables.values()),
                    "peak_rss_mb": _rss_mb(),
                },
            )
        )
    except Exception:
        queue.put(("error", traceback.format_exc()))


def lookup(root: str, keys_dir: str, emails: list[str], repeats: int, queue: Any) -> None:
    """'Which backups hold this person?' through the indexes of every backup, per person."""
    try:
        from connectors.backups.store import BackupStore
        from dsr.keys import KeyRing

        store = BackupStore(Path(root), KeyRing(Path(keys_dir)))
        backups = len(store.list())
        seconds, held = [], []
        for email in emails:
            ids = _identities([email])
            for _ in range(repeats):
                start = time.perf_counter()
                found = store.holding(ids)
                seconds.append(time.perf_counter() - start)
            held.append(len(found))  # how many backups hold each probe, never who
        queue.put(
            (
                "done",
                {
                    "backups": backups,
                    "seconds": seconds,
                    "held_by": held,
                    "peak_rss_mb": _rss_mb(),
                },
            )
        )
    except Exception:
        queue.put(("error", traceback.format_exc()))


def restore_and_search(archive: str, emails: list[str], queue: Any) -> None:
    """The way without an index: unpack one backup and search it with the CRM connector."""
    try:
        from connectors.crm.datamap import load_datamap
        from connectors.crm.sql import CrmSqlConnector
        from dsr.settings import DEMO_DATAMAP

        datamap = load_datamap(DEMO_DATAMAP)
        with tempfile.TemporaryDirectory(dir=Path(archive).parent, prefix=".bench-") as tmp:
            copy = Path(tmp) / "us.sqlite"
            start = time.perf_counter()
            with gzip.open(archive, "rb") as gz, open(copy, "wb") as out:
                shutil.copyfileobj(gz, out, 1 << 20)
            unpacked = time.perf_counter() - start
            engine = create_engine(f"sqlite:///{copy}", poolclass=NullPool)
            connector = CrmSqlConnector("us", engine, datamap)
            searches, rows = [], []
            for email in emails:
                t = time.perf_counter()
                found = connector.find({"p": _identities([email])}, scope="user_account")["p"]
                searches.append(time.perf_counter() - t)
                rows.append(len(found.rows))
            engine.dispose()
        queue.put(
            (
                "done",
                {
                    "unpack_s": unpacked,
                    "search_s": searches,
                    "rows": rows,
                    "peak_rss_mb": _rss_mb(),
                },
            )
        )
    except Exception:
        queue.put(("error", traceback.format_exc()))
