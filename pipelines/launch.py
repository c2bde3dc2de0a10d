"""Running the fulfilment job from outside Dagster's UI (the CLI), as a run the UI shows.

Dagster's own log of such a run (every event, with tracebacks) goes to a file under
``$DSR_HOME/logs``, not to the terminal: a person at the CLI reads one line saying what went
wrong and where that file is. ``verbose`` puts the log on the terminal as well.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterInstance, Definitions, EventLogEntry
from dagster._core.utils import make_new_run_id

from dsr.faults import crash_point
from dsr.settings import Settings
from pipelines.instance_config import dagster_yaml, keep_config
from pipelines.intake_names import REQUEST_ID_TAG
from pipelines.jobs import ACCESS_JOB, group_of_job
from pipelines.partitions import partitions_name

_WATCHED = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_UP_FOR_RETRY,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}

OnStep = Callable[[str, str], None]


@dataclass(frozen=True)
class LaunchResult:
    run_id: str
    success: bool
    failed_steps: list[str]
    log_path: Path | None = None


def loggers_config(verbose: bool) -> dict[str, Any]:
    """Run config for Dagster's console logger: quiet unless asked (the file has everything)."""
    return {"console": {"config": {"log_level": "INFO" if verbose else "CRITICAL"}}}


def _line(record: EventLogEntry) -> str:
    when = datetime.fromtimestamp(record.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    event = record.dagster_event
    kind = event.event_type_value if event is not None else "LOG"
    text = f"{when} {logging.getLevelName(record.level)} {record.step_key or '-'} {kind}"
    text += f" {record.user_message or (event.message if event is not None else '') or ''}"
    error = getattr(event.event_specific_data, "error", None) if event is not None else None
    if error is not None:
        text += "\n" + error.to_string()
    elif record.error_info is not None:
        text += "\n" + record.error_info.to_string()
    return text.rstrip() + "\n"


def write_run_log(instance: DagsterInstance, run_id: str, folder: Path) -> Path:
    """Dagster's log of one run as text: ``<folder>/run-<run id>.log``."""
    return write_log(instance.all_logs(run_id), folder / f"run-{run_id}.log")


def write_log(records: Iterable[EventLogEntry], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(_line(record) for record in records)
    return path


READY = ".dsr-ready"


def instance_for(settings: Settings) -> DagsterInstance:
    """The Dagster instance under DSR_HOME, the same one `dagster dev` shows.

    The first set-up is built beside the home and renamed into place once its storage exists,
    with a ready marker: a set-up killed half-way is found without its marker and built again
    on the next command, instead of leaving a store that needs `dagster instance migrate`.
    """
    settings.ensure_dirs()
    home = Path(settings.dagster_home)
    text = dagster_yaml(settings)
    if not (home / READY).exists():
        _set_up(home, text)
    elif keep_config(home, text) and settings.dagster_storage_url:
        _migrate(home)  # storage just moved to PostgreSQL: its tables before the first run
    return DagsterInstance.from_config(str(home))


def _migrate(home: Path) -> None:
    if not _opens(home):
        instance = DagsterInstance.from_config(str(home))
        instance.upgrade()
        instance.dispose()


def _set_up(home: Path, text: str) -> None:
    for leftover in home.parent.glob(f"{home.name}.setup-*"):
        shutil.rmtree(leftover, ignore_errors=True)  # a set-up that was killed
    if (home / "dagster.yaml").exists():
        # Made by an earlier version, without the marker: bring its storage up to date, never
        # replace it (it holds runs).
        keep_config(home, text)
        _migrate(home)
        (home / READY).touch()
        return
    building = home.with_name(f"{home.name}.setup-{os.getpid()}")
    building.mkdir(parents=True)
    (building / "dagster.yaml").write_text(text, encoding="utf-8")
    if not _opens(building):
        raise RuntimeError(f"could not set up a Dagster instance in {building}")
    crash_point("instance_setup")
    (building / READY).touch()
    # No dagster.yaml: no instance was ever completed here, so nothing in it is a run.
    shutil.rmtree(home, ignore_errors=True)
    os.replace(building, home)


def _opens(home: Path) -> bool:
    try:
        instance = DagsterInstance.from_config(str(home))
        instance.get_runs(limit=1)
        instance.get_dynamic_partitions(partitions_name("access"))
        instance.dispose()
    except Exception:  # any schema problem: a set-up that never finished
        return False
    return True


def run_fulfilment(
    defs: Definitions,
    instance: DagsterInstance,
    request_id: str,
    *,
    job_name: str = ACCESS_JOB,
    on_step: OnStep | None = None,
    log_dir: Path | None = None,
    verbose: bool = False,
) -> LaunchResult:
    """Execute the request's run in this process and report each step as it finishes; with
    ``log_dir``, write Dagster's log of the run there."""
    instance.add_dynamic_partitions(partitions_name(group_of_job(job_name)), [request_id])
    job = defs.resolve_job_def(job_name)
    run_id = make_new_run_id()
    outcome: dict[str, bool] = {}

    def execute() -> None:
        result = job.execute_in_process(
            partition_key=request_id,
            instance=instance,
            run_id=run_id,
            raise_on_error=False,
            tags={REQUEST_ID_TAG: request_id},
            run_config={"loggers": loggers_config(verbose)},
        )
        outcome["success"] = result.success

    worker = threading.Thread(target=execute, name=f"run-{request_id}")
    worker.start()
    seen = 0
    failed: list[str] = []
    while True:
        alive = worker.is_alive()
        records = instance.all_logs(run_id, of_type=_WATCHED)
        for record in records[seen:]:
            event = record.dagster_event
            if event is None:
                continue
            label = event.step_key or ""
            if event.event_type == DagsterEventType.STEP_FAILURE:
                failed.append(label)
            if on_step:
                on_step(event.event_type.value, label)
        seen = len(records)
        if not alive:
            break
        time.sleep(0.2)
    worker.join()
    log_path = write_run_log(instance, run_id, log_dir) if log_dir is not None else None
    return LaunchResult(run_id, outcome.get("success", False), failed, log_path)
