"""The time a schedule tick stands for: its run is judged at it, not at when it happens to run."""

from datetime import UTC, datetime

from dagster import ScheduleEvaluationContext


def tick_time(context: ScheduleEvaluationContext) -> datetime:
    """The tick's scheduled time in UTC; now, when the schedule is evaluated by hand."""
    return (context.scheduled_execution_time or datetime.now(UTC)).astimezone(UTC)
