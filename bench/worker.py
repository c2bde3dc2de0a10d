"""Run one phase in a fresh, spawned process and bring back its figures and its peak RSS.

The peak is ``VmHWM`` (the resident-set high-water mark) of that process. Not ``ru_maxrss``:
Linux carries it over ``execve``, so a spawned child would report the parent's RSS at fork time.
The RSS right after imports is reported beside it, so the part the phase itself added can be told
from the interpreter and the libraries.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import traceback
from collections.abc import Callable
from typing import Any

from bench import phases, plans

PHASES: dict[str, Callable[[dict[str, Any], phases.Tick], dict[str, Any]]] = {
    "single": phases.single,
    "bundle": phases.bundle,
    "batch": phases.batch,
    "mentions": phases.mentions,
    "plans": plans.plans,
}
Tick = Callable[[int, int, str], None]


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # reported in kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def _child(name: str, spec: dict[str, Any], out: Any) -> None:
    try:
        start_rss = _status_mb("VmRSS")

        def tick(done: int, total: int, label: str) -> None:
            out.put(("tick", done, total, label))

        figures = PHASES[name](spec, tick)
        peak = _status_mb("VmHWM")
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
