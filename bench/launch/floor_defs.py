"""Dagster's own floor for Launch → result: a trivial run that queues a second trivial run the
way an intake run queues its fulfilment run (``pipelines.handoff.queue_run``). Loaded only by
``python -m bench launch``, as a second code location beside the product's."""

from dagster import Definitions, OpExecutionContext, in_process_executor, job, op

from pipelines.handoff import queue_run


@op
def queue_second(context: OpExecutionContext) -> None:
    run_id = queue_run(context, "floor_second", {})
    context.instance.add_run_tags(context.run.run_id, {"dsr/fulfilment_run": run_id})


@op
def do_nothing() -> None:
    pass


@job(executor_def=in_process_executor)
def floor_first() -> None:
    queue_second()


@job(executor_def=in_process_executor)
def floor_second() -> None:
    do_nothing()


defs = Definitions(jobs=[floor_first, floor_second])
