"""Run one service measurement in a fresh, spawned process; bring back its figures and peak RSS.

As ``bench.access.worker`` does for the CRM phases (peak = ``VmHWM`` of that process, with the RSS
after imports and after seeding beside it), but for ``bench.services.runs``: a fresh process per
run is also what the Dropbox SDK needs, as it fixes its API hosts at its first import.
``bench.access.worker`` itself is not imported in the child: its phases pull in the CRM stack and
would inflate the RSS.
"""

from __future__ import annotations

import traceback
from typing import Any

from bench.child import Tick, run_child, status_mb


def _child(spec: dict[str, Any], out: Any) -> None:
    try:
        from bench.services.runs import RUNS  # imported here: counted in rss_start

        start_rss = status_mb("VmRSS")
        seeded_rss: list[float] = []

        def tick(done: int, total: int, label: str) -> None:
            if label.startswith("export") and not seeded_rss:
                seeded_rss.append(status_mb("VmRSS"))
            out.put(("tick", done, total, label))

        figures = RUNS[spec["service"]](spec, tick)
        figures |= {
            "rss_start_mb": start_rss,
            "rss_seeded_mb": (seeded_rss or [0.0])[0],
            "rss_peak_mb": status_mb("VmHWM"),
        }
        out.put(("done", figures))
    except BaseException:
        out.put(("error", traceback.format_exc()))


def run(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    return run_child(_child, (spec,), f"run {spec['service']}", tick)
