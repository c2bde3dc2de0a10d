"""Run one phase in a fresh, spawned process and bring back its figures and its peak RSS.

The peak is ``VmHWM`` (the resident-set high-water mark) of that process. Not ``ru_maxrss``:
Linux carries it over ``execve``, so a spawned child would report the parent's RSS at fork time.
The RSS right after imports is reported beside it, so the part the phase itself added can be told
from the interpreter and the libraries.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from bench.access import phases, plans
from bench.child import Tick, run_child, status_mb

PHASES: dict[str, Callable[[dict[str, Any], phases.Tick], dict[str, Any]]] = {
    "single": phases.single,
    "bundle": phases.bundle,
    "batch": phases.batch,
    "mentions": phases.mentions,
    "plans": plans.plans,
}


def _child(name: str, spec: dict[str, Any], out: Any) -> None:
    try:
        start_rss = status_mb("VmRSS")

        def tick(done: int, total: int, label: str) -> None:
            out.put(("tick", done, total, label))

        figures = PHASES[name](spec, tick)
        peak = status_mb("VmHWM")
        out.put(("done", {**figures, "rss_start_mb": start_rss, "rss_peak_mb": peak}))
    except BaseException:
        out.put(("error", traceback.format_exc()))


def run(name: str, spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    return run_child(_child, (name, spec), f"phase {name}", tick)
