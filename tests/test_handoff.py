"""Launch → result in one click: the intake run queues its request's fulfilment run itself, the
two runs name each other, and the sensor never launches a second run for the request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterRun, DagsterRunStatus, build_sensor_context
from dagster._core.utils import make_new_run_id

from bench.live import REPO, dagster_dev, wait_for_run
from dsr.democrm.planted import DEMO_EMAIL
from dsr.ledger import RequestRecord, State
from pipelines.handoff import DUE_AT_TAG, FULFILMENT_RUN_TAG, INTAKE_RUN_TAG
from pipelines.intake_names import ACCESS_INTAKE_JOB, REQUEST_ID_TAG
from pipelines.sensors import BATCH_TAG
from tests.dsr_env import DsrEnv, demo_environment


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def sensor_launches(env: DsrEnv) -> list[str]:
    """The request ids the sensor launches runs for, alone or in a batch."""
    sensor = env.defs.resolve_sensor_def("pending_requests")
    with build_sensor_context(
        instance=env.instance, definitions=env.defs, resources={"ledger": env.resources["ledger"]}
    ) as context:
        runs = sensor(context).run_requests
    return sorted(rid for r in runs for rid in r.tags.get(BATCH_TAG, r.partition_key).split(","))


def intake_run(env: DsrEnv, status: DagsterRunStatus, tags: dict[str, str]) -> str:
    run_id = make_new_run_id()
    env.instance.add_run(
        DagsterRun(job_name=ACCESS_INTAKE_JOB, run_id=run_id, status=status, tags=tags)
    )
    return run_id


def launchpad_request(env: DsrEnv) -> RequestRecord:
    return env.register(DEMO_EMAIL, channel="launchpad")


def test_the_sensor_leaves_a_request_to_its_intake_run_while_that_run_works(env: DsrEnv) -> None:
    record = launchpad_request(env)
    intake_run(env, DagsterRunStatus.STARTED, {REQUEST_ID_TAG: record.request_id})
    assert sensor_launches(env) == []


def test_the_sensor_waits_while_an_intake_run_may_be_registering(env: DsrEnv) -> None:
    record = launchpad_request(env)
    cli = env.register("tom.becker@example.net")  # not from the Launchpad: not held back
    run_id = intake_run(env, DagsterRunStatus.STARTED, {})
    assert sensor_launches(env) == [cli.request_id]
    # The intake run ended without handing off (run in process, say): the sensor takes over.
    env.instance.delete_run(run_id)
    intake_run(env, DagsterRunStatus.SUCCESS, {REQUEST_ID_TAG: record.request_id})
    assert sensor_launches(env) == sorted([record.request_id, cli.request_id])


def test_launch_leads_to_the_fulfilment_run_and_its_bundle(env: DsrEnv, tmp_path: Path) -> None:
    """Through `dagster dev`, as support does it: Launch on the form, then one click."""
    with dagster_dev(
        env.settings.dagster_home, REPO / "workspace.yaml", tmp_path / "dagster-dev.log"
    ) as (client, url):
        started = time.monotonic()
        intake_id = client.submit_job_execution(
            ACCESS_INTAKE_JOB,
            run_config={"ops": {"register_access_request": {"config": {"email": DEMO_EMAIL}}}},
        )
        assert wait_for_run(client, intake_id) == "SUCCESS"
        intake = env.instance.get_run_by_id(intake_id)
        assert intake is not None
        run_id = intake.tags[FULFILMENT_RUN_TAG]
        request_id = intake.tags[REQUEST_ID_TAG]
        messages = [r.user_message for r in env.instance.all_logs(intake_id)]
        assert any(f"{url}/runs/{run_id}" in m for m in messages)
        [output] = env.instance.all_logs(intake_id, of_type=DagsterEventType.STEP_OUTPUT)
        link = output.dagster_event.event_specific_data.metadata["fulfilment_run"]  # type: ignore[union-attr]
        assert link.value == f"{url}/runs/{run_id}"
        assert wait_for_run(client, run_id) == "SUCCESS"
        elapsed = time.monotonic() - started

        fulfilment = env.instance.get_run_by_id(run_id)
        assert fulfilment is not None and fulfilment.job_name == "access_fulfilment"
        record = env.ledger.get(request_id)
        assert fulfilment.tags[INTAKE_RUN_TAG] == intake_id
        assert fulfilment.tags["dagster/partition"] == request_id
        assert fulfilment.tags[DUE_AT_TAG] == f"{record.due_at:%Y-%m-%d}"
        first = next(
            r.user_message for r in env.instance.all_logs(run_id) if r.dagster_event is None
        )
        assert request_id in first and f"due {record.due_at:%Y-%m-%d}" in first
        assert record.state == State.FULFILLED and Path(record.result["bundle"]).is_file()

        # Exactly once: the daemon's sensor has ticked meanwhile and launched nothing more.
        time.sleep(max(0.0, 16 - elapsed))
        assert sensor_launches(env) == []
        runs = env.instance.get_runs()
        assert [r.run_id for r in runs if r.tags.get("dagster/partition") == request_id] == [run_id]


def test_an_erasure_awaiting_identity_verification_is_not_started(env: DsrEnv) -> None:
    result = env.defs.resolve_job_def("register_erasure_request_job").execute_in_process(
        run_config={"ops": {"register_erasure_request": {"config": {"email": DEMO_EMAIL}}}},
        instance=env.instance,
    )
    [record] = env.ledger.list_requests()
    messages = [r.user_message for r in env.instance.all_logs(result.run_id)]
    assert any("not started yet" in m and "verify-identity" in m for m in messages)
    assert FULFILMENT_RUN_TAG not in env.instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]
    assert [r.job_name for r in env.instance.get_runs()] == ["register_erasure_request_job"]
    assert record.state == State.RECEIVED and sensor_launches(env) == []
