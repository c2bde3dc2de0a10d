"""Many requests in one Dagster run: one discovery pass, each request its own outcome."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType, ExecuteInProcessResult, build_sensor_context

from dsr.democrm.planted import DEMO_EMAIL, client_id, expected_rows
from dsr.ledger import RequestType, Scope, State
from dsr.proof import verify_proof
from dsr.proof.canonical import loads
from pipelines.batch_access import ACCESS_BATCH_JOB
from pipelines.batch_erasure import ERASURE_BATCH_JOB
from pipelines.launch import run_fulfilment
from pipelines.partitions import partitions_name
from resources.engines import engine_for
from tests.dsr_env import DsrEnv, demo_environment
from tests.run_env import execute_launch, hold_as_live_run

OTHERS = ("tom.becker@example.net", "priya.raman@northwind.test")
NORTHWIND = str(client_id("Northwind Traders"))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def run_batch(env: DsrEnv, request_ids: list[str], group: str = "access") -> ExecuteInProcessResult:
    """One batch run of ``group``'s job (access or erasure) over ``request_ids``."""
    job = {"access": ACCESS_BATCH_JOB, "erasure": ERASURE_BATCH_JOB}[group]
    env.instance.add_dynamic_partitions(partitions_name(group), request_ids)
    return env.defs.resolve_job_def(job).execute_in_process(
        run_config={"ops": {f"fulfil_{group}_batch": {"config": {"request_ids": request_ids}}}},
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


def erasures(env: DsrEnv) -> list[str]:
    """Maria's and Priya's accounts, and Tom as Northwind's contact."""
    return [
        env.register(DEMO_EMAIL, type=RequestType.ERASURE, verified_by="agent-7").request_id,
        env.register(OTHERS[1], type=RequestType.ERASURE, verified_by="agent-7").request_id,
        env.register(
            OTHERS[0],
            type=RequestType.ERASURE,
            scope=Scope.CLIENT_DATA,
            client_id=NORTHWIND,
            authorization_ref="NW-DPA-1",
        ).request_id,
    ]


def proof_counts(env: DsrEnv, request_id: str) -> dict[str, dict]:
    proof = loads(Path(env.ledger.get(request_id).result["proof"]).read_bytes())["proof"]
    return {f"{s['system']}:{s['region']}": s["counts"] for s in proof["systems"]}


def test_an_erasure_batch_proves_what_single_runs_prove(tmp_path: Path) -> None:
    with demo_environment(tmp_path / "single") as env:
        singles = erasures(env)
        for rid in singles:
            assert run_fulfilment(
                env.defs, env.instance, rid, job_name="erasure_fulfilment"
            ).success
        expected = [proof_counts(env, rid) for rid in singles]
    with demo_environment(tmp_path / "batch") as env:
        batch = erasures(env)
        assert run_batch(env, batch, "erasure").success
        assert [env.ledger.get(rid).state for rid in batch] == [State.FULFILLED] * 3
        assert [proof_counts(env, rid) for rid in batch] == expected
        pem = env.resources["ledger"].key_ring().public_key_pem()
        for rid in batch:
            path = Path(env.ledger.get(rid).result["proof"])
            assert verify_proof(path, pem, ledger=env.ledger).ok


def test_one_bad_request_fails_alone_and_the_others_are_erased(env: DsrEnv) -> None:
    maria, priya, tom = erasures(env)
    tom_contact = expected_rows("us")["tom"]["contacts"][0]
    with engine_for(env.settings.crm_urls["us"]).begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TRIGGER broken_disk BEFORE DELETE ON contacts WHEN OLD.id = {tom_contact} "
            "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
    result = run_batch(env, [maria, priya, tom], "erasure")
    assert not result.success  # the run shows the failure...
    failed = env.ledger.get(tom)
    assert failed.state == State.FAILED and "crm:us erasure" in failed.failure_reason
    # ...and everyone else is erased, with a proof each.
    assert [env.ledger.get(rid).state for rid in (maria, priya)] == [State.FULFILLED] * 2
    with engine_for(env.settings.crm_urls["us"]).connect() as conn:
        left = conn.exec_driver_sql(f"SELECT count(*) FROM contacts WHERE id = {tom_contact}")
        assert left.scalar() == 1  # rolled back


def test_the_sensor_groups_waiting_requests_into_one_batch_run(env: DsrEnv) -> None:
    records = [env.register(e) for e in (DEMO_EMAIL, *OTHERS)]
    sensor = env.defs.resolve_sensor_def("pending_requests")
    with build_sensor_context(
        instance=env.instance, definitions=env.defs, resources={"ledger": env.resources["ledger"]}
    ) as ctx:
        first = sensor(ctx)
    [launch] = first.run_requests
    assert launch.job_name == ACCESS_BATCH_JOB
    assert launch.tags["dsr/batch_requests"].split(",") == [r.request_id for r in records]
    # Launched, not started yet: the next tick does not launch them again.
    with build_sensor_context(
        instance=env.instance,
        definitions=env.defs,
        resources={"ledger": env.resources["ledger"]},
        cursor=first.cursor,
    ) as ctx:
        assert sensor(ctx).run_requests == []
    assert execute_launch(env.defs, env.instance, launch)
    assert {env.ledger.get(r.request_id).state for r in records} == {State.FULFILLED}
