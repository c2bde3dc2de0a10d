"""Lineage tells the truth: a bundle an erasure deleted is shown deleted on its partition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, EventRecordsFilter

from dsr.democrm.planted import DEMO_EMAIL
from dsr.ledger import RequestType
from pipelines.batch_erasure import ERASURE_BATCH_JOB
from pipelines.launch import run_fulfilment
from tests.dsr_env import DsrEnv, demo_environment


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


@pytest.mark.parametrize("run", ["single", "batch"])
def test_the_erasure_marks_her_earlier_bundle_deleted(env: DsrEnv, run: str) -> None:
    access = env.register(DEMO_EMAIL)
    assert run_fulfilment(env.defs, env.instance, access.request_id).success
    bundle = Path(env.ledger.get(access.request_id).result["bundle"])
    erasure = env.register(DEMO_EMAIL, type=RequestType.ERASURE, verified_by="agent-7")
    if run == "single":
        result = run_fulfilment(
            env.defs, env.instance, erasure.request_id, job_name="erasure_fulfilment"
        )
    else:
        result = env.defs.resolve_job_def(ERASURE_BATCH_JOB).execute_in_process(
            run_config={
                "ops": {"fulfil_erasure_batch": {"config": {"request_ids": [erasure.request_id]}}}
            },
            instance=env.instance,
        )
    assert result.success and not bundle.exists()

    [seen] = env.instance.get_event_records(
        EventRecordsFilter(
            DagsterEventType.ASSET_OBSERVATION,
            asset_key=AssetKey("access_bundle"),
            asset_partitions=[access.request_id],
        )
    )
    observation = seen.asset_observation
    assert observation is not None
    assert observation.metadata["status"].value == "deleted"
    assert observation.metadata["deleted_by_erasure"].value == erasure.request_id
    assert observation.metadata["erasure_run"].value == result.run_id


EXPECTED_GROUPS = {
    "discovery",
    "access",
    "erasure",
    "rectification",
    "opt_out",
    "restriction",
    "backups",
    "deadlines",
    "minors",
}


def test_every_asset_is_in_a_named_group_and_says_what_it_is(env: DsrEnv) -> None:
    specs = list(env.defs.resolve_all_asset_specs())
    assert {s.group_name for s in specs} == EXPECTED_GROUPS  # none left in "default"
    assert [s.key.to_user_string() for s in specs if not (s.description or "").strip()] == []
