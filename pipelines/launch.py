"""Running the fulfilment job from outside Dagster's UI (the CLI), as a run the UI shows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, Definitions
from dagster._core.utils import make_new_run_id

from dsr.settings import Settings
from pipelines.intake_names import REQUEST_ID_TAG
from pipelines.jobs import ACCESS_JOB
from pipelines.partitions import REQUESTS_PARTITIONS_NAME

DAGSTER_YAML = """\
# Written by dsr on first use. Telemetry is off: this machine keeps subject-request data.
telemetry:
  enabled: false
"""
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


def instance_for(settings: Settings) -> DagsterInstance:
    """The Dagster instance under DSR_HOME, the same one `dagster dev` shows."""
    settings.ensure_dirs()
    config = Path(settings.dagster_home) / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return DagsterInstance.from_config(str(settings.dagster_home))


def run_fulfilment(
    defs: Definitions,
    instance: DagsterInstance,
    request_id: str,
    *,
    job_name: str = ACCESS_JOB,
    on_step: OnStep | None = None,
) -> LaunchResult:
    """Execute the request's run in this process and report each step as it finishes."""
    instance.add_dynamic_partitions(REQUESTS_PARTITIONS_NAME, [request_id])
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
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
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
    return LaunchResult(run_id, outcome.get("success", False), failed)
