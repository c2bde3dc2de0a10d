"""What one `dsr` invocation was asked for as a whole (``--verbose``), and where its logs go."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class CliOptions:
    verbose: bool = False


options = CliOptions()


def logs_dir() -> Path:
    """``$DSR_HOME/logs`` when the home exists; else the system's temporary folder, so that a
    failure outside any project does not create a dsr home just to hold its log."""
    from dsr.home import find_home

    try:
        home = find_home().path
    except ValueError:
        home = None
    base = home / "logs" if home is not None and home.is_dir() else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    return base


def log_file(kind: str) -> Path:
    """A new log file's path: ``<logs>/<kind>-<UTC time>.log``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return logs_dir() / f"dsr-{kind}-{stamp}.log"
