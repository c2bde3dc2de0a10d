"""Run one phase in a fresh, spawned process and bring back its figures and its peak RSS.

``ru_maxrss`` of a process is the high-water mark of its resident set, so a fresh process per
phase gives that phase's peak; the RSS after imports and set-up is reported beside it, so the
part the phase itself added can be told from the interpreter and the libraries.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import resource
import traceback
from collections.abc import Callable
from typing import Any

from bench import phases

PHASES: dict[str, Callable[[dict[str, Any], phases.Tick], dict[str, Any]]] = {
    "single": phases.single,
    "bundle": phases.bundle,
    "batch": phases.batch,
    "mentions": phases.mentions,
}
Tick = Callable[[int, int, str], None]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _child(name: str, spec: dict[str, Any], out: Any) -> None:
    try:
        start_rss = _rss_mb()

        def tick(done: int, total: int, label: str) -> None:
            out.put(("tick", done, total, label))

        figures = PHASES[name](spec, tick)
        # Linux reports ru_maxrss in KiB.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.put(("done", {**figures, "rss_start_mb": start_rss, "rss_peak_mb": peak}))
    except BaseException:
        out.put(("error", traceback.format_exc()))


def run(name: str, spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    messages = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, spec, messages), daemon=True)
    proc.start()
    try:
        while True:
            try:
                kind, *rest = messages.get(timeout=0.5)
            except queue_mod.Empty:
                if not proc.is_alive():
                    raise RuntimeError(f"phase {name} died (exit code {proc.exitcode})") from None
                continue
            if kind == "tick":
                tick(*rest)
            elif kind == "done":
                return rest[0]
            else:
                raise RuntimeError(f"phase {name} failed:\n{rest[0]}")
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
