"""A refusal is stored as its sentence and metadata, without Dagster's frames under it.

A step that refuses raises ``dagster.Failure`` with one sentence and metadata (the intake forms'
``pipelines.intake_form.refusal``, a lease held elsewhere, a state that forbids the step).
Dagster serialises it with the traceback from its executor down to the ``raise``: about ten of
Dagster's own frames that tell support nothing, printed as "Stack Trace" under the sentence in
the step failure and again in the run failure, which copies the step's error. Dagster 1.13 has
no public way to fail a step without an exception, so the event log drops that stack, and the
exception's class name before the sentence, when it stores the event. Only a ``Failure`` loses
them (Dagster records it as an "intentional-failure"); an unexpected exception keeps its whole
stack, which is an engineer's evidence, and so does any exception chained to a ``Failure`` as its
cause.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import Failure
from dagster._core.events import DagsterEvent, DagsterEventType, JobFailureData
from dagster._core.events.log import EventLogEntry
from dagster._core.execution.plan.objects import StepFailureData

FAILURE_CLASS = f"{Failure.__module__}.{Failure.__qualname__}"


def without_refusal_frames(entry: EventLogEntry) -> EventLogEntry:
    """``entry`` with a refusal's stack removed; any other event unchanged (the same object)."""
    event = entry.dagster_event
    if event is None:
        return entry
    if event.event_type == DagsterEventType.STEP_FAILURE:
        stored = _step_failure(event)
    elif event.event_type == DagsterEventType.RUN_FAILURE:
        stored = _run_failure(event)
    else:
        return entry
    return entry if stored is event else entry._replace(dagster_event=stored)


def all_without_refusal_frames(entries: Sequence[EventLogEntry]) -> list[EventLogEntry]:
    return [without_refusal_frames(entry) for entry in entries]


def _step_failure(event: DagsterEvent) -> DagsterEvent:
    data = event.event_specific_data
    if (
        not isinstance(data, StepFailureData)
        or data.user_failure_data is None  # not a Failure: an error, keep its evidence
        or data.error is None
        or not data.error.stack
    ):
        return event
    # Shown as "dagster._core.definitions.events.Failure: <sentence>": the sentence is the message.
    message = data.error.message.removeprefix(f"{FAILURE_CLASS}: ")
    error = data.error._replace(message=message, stack=[])
    return event._replace(event_specific_data=data._replace(error=error))


def _run_failure(event: DagsterEvent) -> DagsterEvent:
    data = event.event_specific_data
    if not isinstance(data, JobFailureData) or data.first_step_failure_event is None:
        return event
    first = _step_failure(data.first_step_failure_event)
    if first is data.first_step_failure_event:
        return event
    # The run's error is the first failed step's, copied when the run failed.
    copied = data.error == data.first_step_failure_event.step_failure_data.error
    error = first.step_failure_data.error if copied else data.error
    return event._replace(
        event_specific_data=data._replace(error=error, first_step_failure_event=first)
    )
