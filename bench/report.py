"""What every benchmark reports with: percentiles, number and size formats, the JSON header."""

from __future__ import annotations

import math
import platform
from datetime import UTC, datetime
from typing import Any

import sqlalchemy


def p95(values: list[float]) -> float:
    """Linear-interpolated 95th percentile (numpy's default), without numpy."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = 0.95 * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def ms(seconds: float) -> str:
    return "-" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:,.1f}"


def num(value: float) -> str:
    return f"{value:,.0f}"


def size_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def started() -> dict[str, Any]:
    """When and on which Python a benchmark ran: the start of every benchmark's JSON."""
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }


def run_header(backend: str) -> dict[str, Any]:
    """What a CRM benchmark's JSON starts with: where and with what it ran."""
    return {"backend": backend, **started(), "sqlalchemy": sqlalchemy.__version__}
