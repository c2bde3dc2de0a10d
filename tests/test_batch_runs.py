"""Many requests in one Dagster run: one discovery pass, each request its own outcome."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType

from dsr.democrm.planted import DEMO_EMAIL
from dsr.ledger import State
from pipelines.batch_access import ACCESS_BATCH_JOB
from pipelines.launch import run_fulfilment
from pipelines.partitions import REQUESTS_PARTITIONS_NAME
from tests.dsr_env import DsrEnv, demo_environment
from tests.run_env import hold_as_live_run

OTHERS = ("tom.becker@example.net", "priya.raman@inextcrm-demo.test")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def run_batch(env: DsrEnv, request_ids: list[str]):  # type: ignore[no-untyped-def]
    env.instance.add_dynamic_partitions(REQUESTS_PARTITIONS_NAME, request_ids)
    job = env.defs.resolve_job_def(ACCESS_BATCH_JOB)
    return job.execute_in_process(
        run_config={"ops": {"fulfil_access_batch": {"config": {"request_ids": request_ids}}}},
        instance=env.instance,
        raise_on_error=False,
    )


def test_a_batch_gives_each_request_the_bundle_a_single_run_gives(env: DsrEnv) -> None:
    single = env.register(DEMO_EMAIL)
    assert run_fulfilment(env.defs, env.instance, single.request_id).success
    expected = env.ledger.get(single.request_id).result["rows_per_system"]

    records = [env.register(e) for e in (DEMO_EMAIL, *OTHERS)]
    result = run_batch(env, [r.request_id for r in records])
    assert result.success
    done = [env.ledger.get(r.request_id) for r in records]
    assert [d.state for d in done] == [State.FULFILLED] * 3
    assert done[0].result["rows_per_system"] == expected
    assert len({d.result["bundle"] for d in done}) == 3 and all(
        Path(d.result["bundle"]).is_file() for d in done
    )
    # Lineage per request: each request's own partition of access_bundle is materialised.
    materialized = {
        e.partition
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
        and e.asset_key is not None
        and e.asset_key.path == ["access_bundle"]
    }
    assert materialized == {r.request_id for r in records}


def test_a_request_another_run_holds_is_left_out_and_the_rest_finish(env: DsrEnv) -> None:
    held, *rest = [env.register(e) for e in (DEMO_EMAIL, *OTHERS)]
    hold_as_live_run(env.ledger, env.instance, held.request_id)
    result = run_batch(env, [held.request_id, *(r.request_id for r in rest)])
    assert result.success
    assert env.ledger.get(held.request_id).state == State.IN_PROGRESS  # untouched
    assert [env.ledger.get(r.request_id).state for r in rest] == [State.FULFILLED] * 2
