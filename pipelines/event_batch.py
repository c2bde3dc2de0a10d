"""One request's asset events in a batch run, handed to Dagster's event log as one batch.

A batch run records, for each request, what a single run records: a materialisation of each of
its partitions, the erasure checks' results, the observations of bundles it deleted. Logged one
by one, each is two or three commits to Dagster's SQLite files, which was most of a batch run's
time (62% of an access batch, 46% of an erasure batch). Dagster writes events that carry batch
metadata together when ``DAGSTER_EVENT_BATCH_SIZE`` is set (the path its own partition-range
runs take), and ``pipelines.sqlite_event_log`` writes such a batch in one transaction per
shard. Events are still logged in the step, in order, and appear in the run's event log and the
step's events exactly as ``context.log_event`` would put them there.

Dagster offers no public way to attach batch metadata to an op's own events, so this uses its
event constructors directly (``dagster._core.events``; the version is pinned in pyproject.toml).
On any other event log storage (PostgreSQL, whose batch writer takes one event type at a time)
events are logged one by one, as before.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dagster import (
    AssetCheckEvaluation,
    AssetMaterialization,
    AssetObservation,
    DagsterEventType,
    OpExecutionContext,
)
from dagster._core.events import DagsterEvent, DagsterEventBatchMetadata, generate_event_batch_id
from dagster._core.execution.context.system import StepExecutionContext

from pipelines.sqlite_event_log import ReusedEngineSqliteEventLogStorage

AssetEvent = AssetMaterialization | AssetObservation | AssetCheckEvaluation
BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
# Dagster writes a batch when its last event arrives or when it holds this many.
BATCH_LIMIT = 1000


def log_together(context: OpExecutionContext, events: Sequence[AssetEvent]) -> None:
    """Log ``events`` in order, stored together where the instance's event log can."""
    if len(events) < 2 or not isinstance(
        context.instance.event_log_storage, ReusedEngineSqliteEventLogStorage
    ):
        for event in events:
            context.log_event(event)
        return
    # Read by Dagster at each event; an operator's own setting (even 0, off) is kept.
    os.environ.setdefault(BATCH_SIZE_VARIABLE, str(BATCH_LIMIT))
    step = context.get_step_execution_context()
    batch_id = generate_event_batch_id()
    for n, event in enumerate(events, start=1):
        meta = DagsterEventBatchMetadata(batch_id, n == len(events))
        # As context.log_event does: the step reports the events it logged.
        context._events.append(_logged(step, event, meta))


def _logged(
    step: StepExecutionContext, event: AssetEvent, meta: DagsterEventBatchMetadata
) -> DagsterEvent:
    if isinstance(event, AssetMaterialization):
        return DagsterEvent.asset_materialization(step, event, meta)
    if isinstance(event, AssetObservation):
        return DagsterEvent.asset_observation(step, event, meta)
    outcome = "passed." if event.passed else "did not pass."
    described = f" Description: '{event.description}'" if event.description else ""
    return DagsterEvent.from_step(
        DagsterEventType.ASSET_CHECK_EVALUATION,
        step,
        event,
        f"Asset check '{event.check_name}' on '{event.asset_key.to_user_string()}' "
        f"{outcome}{described}",
        batch_metadata=meta,
    )
