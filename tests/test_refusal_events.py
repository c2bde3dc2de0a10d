"""A refused step's error reads as its sentence, with no stack trace under it, in what the UI reads.

The UI prints "Stack Trace:" under a step's or a run's error whenever the stored error has a
stack; these tests read the stored events back from each kind of instance dsr configures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, Failure, job, op

from dsr.settings import Settings
from pipelines.launch import instance_for
from tests.dsr_env import environment
from tests.pg_server import PgServer

SENTENCE = "Request not registered, check the form's email field: e-mail is not valid."


@op
def refuses() -> None:
    raise Failure(description=SENTENCE, metadata={"field": "email"}, allow_retries=False)


@op
def breaks() -> None:
    {}["missing"]  # a bug: an engineer needs its stack


@op
def refuses_after_an_error() -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        raise Failure(description="Not lifted: the CRM said no.") from exc


@job
def refusing_job() -> None:
    refuses()


@job
def breaking_job() -> None:
    breaks()


@job
def chained_job() -> None:
    refuses_after_an_error()


@pytest.fixture(params=["sqlite", "postgresql"])
def instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DagsterInstance]:
    overrides: dict[str, str] = {}
    server: PgServer | None = None
    database = ""
    if request.param == "postgresql":
        server = request.getfixturevalue("pg_server")
        database = server.create_database()
        overrides["DSR_DAGSTER_STORAGE_URL"] = server.url(database, driver="postgresql+psycopg2")
    try:
        with environment(tmp_path / "home", **overrides):
            instance = instance_for(Settings.from_env(tmp_path / "home"))
            yield instance
            instance.dispose()
    finally:
        if server is not None:
            server.drop_database(database)


def stored_errors(instance: DagsterInstance, run_id: str) -> list:
    """The step's and the run's error, as the event log hands them to the UI."""
    errors = []
    for kind in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE):
        (record,) = instance.get_records_for_run(run_id, of_type=kind).records
        data = record.event_log_entry.dagster_event.event_specific_data
        errors.append(data.error)
        if kind == DagsterEventType.RUN_FAILURE:
            errors.append(data.first_step_failure_event.step_failure_data.error)
    return errors


def test_a_refusal_is_stored_as_its_sentence_without_a_stack(instance: DagsterInstance) -> None:
    result = refusing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    for error in stored_errors(instance, result.run_id):
        assert error.message.strip() == SENTENCE  # not "dagster._core...Failure: <sentence>"
        assert error.stack == []
        assert "Stack Trace" not in error.to_string()
    (record,) = instance.get_records_for_run(
        result.run_id, of_type=DagsterEventType.STEP_FAILURE
    ).records
    failure = record.event_log_entry.dagster_event.step_failure_data.user_failure_data
    assert failure.description == SENTENCE
    assert failure.metadata["field"].value == "email"


def test_an_unexpected_error_keeps_its_stack(instance: DagsterInstance) -> None:
    result = breaking_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    step, run, _first = stored_errors(instance, result.run_id)
    for error in (step, run):
        trace = error.to_string()
        assert "KeyError" in trace and "Stack Trace" in trace
        assert '{}["missing"]' in trace  # the line of ours that broke


def test_the_error_behind_a_refusal_keeps_its_stack(instance: DagsterInstance) -> None:
    result = chained_job.execute_in_process(instance=instance, raise_on_error=False)
    step, run, _first = stored_errors(instance, result.run_id)
    for error in (step, run):
        assert error.stack == []
        assert error.cause is not None and error.cause.cls_name == "KeyError"
        assert error.cause.stack
