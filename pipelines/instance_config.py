"""The instance's ``dagster.yaml``, made from the settings and kept in step with them.

Written on every use of the instance when it differs, so changing ``DSR_DAGSTER_STORAGE_URL`` or
the regions takes effect on the next command; a password never lands in the file (the storage
URL is read from the environment by Dagster itself). A file an operator wrote themselves (for a
Docker or Kubernetes run launcher, say) does not start with ``OURS`` and is never touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from dsr.settings import Settings
from pipelines.run_queue import run_queue_config

HEADER = (
    "# Written by dsr from its settings (pipelines/instance_config.py); edits are overwritten.\n"
    "# Telemetry is off: this machine keeps subject-request data.\n"
)
OURS = "# Written by dsr"
STORAGE_VARIABLE = "DSR_DAGSTER_STORAGE_URL"


def dagster_yaml(settings: Settings) -> str:
    config: dict = {"telemetry": {"enabled": False}}
    if settings.dagster_storage_url:
        config.update(postgres_storage())
    else:
        config.update(sqlite_storage(settings.dagster_home))
    config["run_queue"] = run_queue_config(settings.regions)
    return HEADER + yaml.safe_dump(config, sort_keys=False)


def sqlite_storage(base: Path) -> dict:
    """Dagster's default SQLite storage, in the folders its default uses (``history/`` and
    ``schedules/`` under DAGSTER_HOME), with the event log that keeps its engines
    (``pipelines.sqlite_event_log``)."""

    def storage(module: str, cls: str, base_dir: Path) -> dict:
        return {"module": module, "class": cls, "config": {"base_dir": str(base_dir)}}

    history = base / "history"
    return {
        "run_storage": storage("dagster._core.storage.runs", "SqliteRunStorage", history),
        "event_log_storage": storage(
            "pipelines.sqlite_event_log", "ReusedEngineSqliteEventLogStorage", history / "runs"
        ),
        "schedule_storage": storage(
            "dagster._core.storage.schedules", "SqliteScheduleStorage", base / "schedules"
        ),
    }


def postgres_storage() -> dict:
    """Dagster's PostgreSQL storage, with the event log that stores refusals without Dagster's
    frames (``pipelines.postgres_event_log``); the URL is read from the environment by Dagster."""

    def storage(module: str, cls: str) -> dict:
        return {
            "module": module,
            "class": cls,
            "config": {"postgres_url": {"env": STORAGE_VARIABLE}},
        }

    return {
        "run_storage": storage("dagster_postgres", "PostgresRunStorage"),
        "event_log_storage": storage(
            "pipelines.postgres_event_log", "RefusalAwarePostgresEventLogStorage"
        ),
        "schedule_storage": storage("dagster_postgres", "PostgresScheduleStorage"),
    }


def keep_config(home: Path, text: str) -> bool:
    """Write ``text`` as the instance's config if it differs; whether it was written."""
    path = home / "dagster.yaml"
    if path.is_file():
        current = path.read_text(encoding="utf-8")
        if current == text or not current.startswith(OURS):
            return False
    partial = path.with_name(f"dagster.yaml.{os.getpid()}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return True
