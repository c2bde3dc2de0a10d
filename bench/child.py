"""Running one measurement in a fresh spawned process, so its peak RSS is its own.

Kept free of heavy imports: the child imports this module too, and what it imports counts.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
from collections.abc import Callable
from typing import Any

Tick = Callable[[int, int, str], None]


def status_mb(field: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) of this process, in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # reported in kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def run_child(
    target: Callable[..., None],
    args: tuple[Any, ...],
    label: str,
    tick: Tick,
    *,
    join_timeout: float = 30,
) -> dict[str, Any]:
    """Run ``target(*args, queue)`` in a fresh spawned process (so its peak RSS is its own),
    relaying its progress ticks; returns what it reports as done."""
    ctx = mp.get_context("spawn")
    messages = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, messages), daemon=True)
    proc.start()
    try:
        while True:
            try:
                kind, *rest = messages.get(timeout=0.5)
            except queue_mod.Empty:
                if not proc.is_alive():
                    raise RuntimeError(f"{label} died (exit code {proc.exitcode})") from None
                continue
            if kind == "tick":
                tick(*rest)
            elif kind == "done":
                return rest[0]
            else:
                raise RuntimeError(f"{label} failed:\n{rest[0]}")
    finally:
        proc.join(timeout=join_timeout)
        if proc.is_alive():
            proc.kill()
