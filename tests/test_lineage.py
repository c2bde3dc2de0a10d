"""Lineage tells the truth: each kind of request fills its own partitions, every erasure asset's
check has one result per request, and a bundle an erasure deleted is shown deleted (and no
longer "passed") on its partition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterEventType, EventRecordsFilter

from dsr.democrm.planted import DEMO_EMAIL
from dsr.ledger import RequestType
from pipelines.batch_erasure import ERASURE_BATCH_JOB
from pipelines.checks import BUNDLE_CHECK, VERIFIED_CHECK
from pipelines.launch import run_fulfilment
from pipelines.partitions import partitions_name
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

    checks = check_results(env, result.run_id)
    # Her bundle's check no longer reads "passed": its last result says the erasure deleted it.
    gone = checks[("access_bundle", BUNDLE_CHECK, access.request_id)]
    assert not gone.passed and gone.severity.value == "WARN"
    assert gone.description == f"No bundle to check: deleted by erasure {erasure.request_id}"
    # Every erasure asset's check passed for the erasure's own partition, single run or batch.
    erased = {
        asset for (asset, check, partition) in checks
        if check == VERIFIED_CHECK and partition == erasure.request_id
    }  # fmt: skip
    assert erased == {
        "crm_us_erasure",
        "crm_eu_erasure",
        "google_erasure",
        "dropbox_erasure",
        "gotomeeting_erasure",
    }
    assert all(c.passed for (_, name, _), c in checks.items() if name == VERIFIED_CHECK)
    # What the UI reads per partition (the check executions table) says the same.
    latest = executions(env, "access_bundle", BUNDLE_CHECK)
    assert latest[access.request_id].status.value == "FAILED"
    for asset in erased:
        assert (
            executions(env, asset, VERIFIED_CHECK)[erasure.request_id].status.value == "SUCCEEDED"
        )


def executions(env: DsrEnv, asset: str, check: str) -> dict:
    """partition -> the check's latest recorded execution."""
    key = AssetCheckKey(AssetKey(asset), check)
    history = env.instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
    out: dict = {}
    for record in history:  # newest first
        out.setdefault(record.partition, record)
    return out


def check_results(env: DsrEnv, run_id: str) -> dict:
    """(asset, check, partition) -> the check evaluation the run recorded."""
    out = {}
    for record in env.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        key = (evaluation.asset_key.to_user_string(), evaluation.check_name, evaluation.partition)
        out[key] = evaluation
    return out


def test_each_kind_of_request_fills_its_own_partitions(env: DsrEnv) -> None:
    accesses = [env.register(e) for e in (DEMO_EMAIL, "tom.becker@example.net")]
    for access in accesses:
        assert run_fulfilment(env.defs, env.instance, access.request_id).success
    erasure = env.register(
        "priya.raman@northwind.test", type=RequestType.ERASURE, verified_by="agent-7"
    )
    assert run_fulfilment(
        env.defs, env.instance, erasure.request_id, job_name="erasure_fulfilment"
    ).success

    def partitions(kind: str) -> set[str]:
        return set(env.instance.get_dynamic_partitions(partitions_name(kind)))

    def filled(asset: str) -> set[str]:
        return set(env.instance.get_materialized_partitions(AssetKey(asset)))

    ids = {a.request_id for a in accesses}
    # Two of two for access, one of one for erasure: nothing looks like missing work.
    assert partitions("access") == filled("access_bundle") == ids
    assert partitions("erasure") == filled("deletion_proof") == {erasure.request_id}
    assert filled("access_subject_identities") == ids
    assert filled("erasure_subject_identities") == {erasure.request_id}
    assert partitions("opt_out") == partitions("rectification") == set()


EXPECTED_GROUPS = {
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
