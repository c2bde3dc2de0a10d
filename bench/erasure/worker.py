"""Run one erasure measurement in a fresh spawned process; bring back its figures and peak RSS.

As ``bench.access.worker`` does for access: the process starts empty, so its ``VmHWM`` is its
own; the RSS right after imports is reported beside it. (``bench.access.worker`` knows only the
access phases, hence this twin.)
"""

from __future__ import annotations

import importlib
import traceback
from typing import Any

from bench.child import Tick, run_child, status_mb

TARGETS = {"single": ("bench.erasure.phases", "single"), "batch": ("bench.erasure.batch", "batch")}


def _child(name: str, spec: dict[str, Any], out: Any) -> None:
    try:
        start_rss = status_mb("VmRSS")
        # Imported here, so the RSS after imports is told apart from the phase's own.
        module, function = TARGETS[name]
        measure = getattr(importlib.import_module(module), function)
        after_imports = status_mb("VmRSS")

        def tick(done: int, total: int, label: str) -> None:
            out.put(("tick", done, total, label))

        figures = measure(spec, tick)
        peak = status_mb("VmHWM")
        out.put(
            (
                "done",
                {
                    **figures,
                    "rss_start_mb": start_rss,
                    "rss_after_imports_mb": after_imports,
                    "rss_peak_mb": max(peak, *figures.get("peak_mb", {0: 0.0}).values()),
                },
            )
        )
    except BaseException:
        out.put(("error", traceback.format_exc()))


def run(name: str, spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    return run_child(_child, (name, spec), name, tick, join_timeout=60)
