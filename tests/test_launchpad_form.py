"""What support sees in the Launchpad: a form that opens valid, refusals in one sentence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import (
    DagsterEventType,
    DagsterInvalidConfigError,
    ExecuteInProcessResult,
    validate_run_config,
)
from dagster._core.snap import JobSnap
from dagster._core.snap.snap_to_yaml import default_values_yaml_from_type_snap

from dsr.democrm.planted import DEMO_EMAIL, client_id
from dsr.ledger import Scope
from pipelines.intake_names import INTAKE_JOBS, SUBJECT_HASH_TAG
from pipelines.partitions import known_request_partitions
from tests.dsr_env import DsrEnv, demo_environment

NORTHWIND = str(client_id("Northwind Traders"))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def launchpad_text(env: DsrEnv, job_name: str) -> dict:
    """The YAML the Launchpad opens with (what the UI asks GraphQL's rootDefaultYaml for)."""
    snap = JobSnap.from_job_def(env.defs.resolve_job_def(job_name))
    schema = snap.config_schema_snapshot
    root = schema.get_config_snap(snap.mode_def_snaps[0].root_config_key)
    return yaml.safe_load(default_values_yaml_from_type_snap(schema, root)) or {}


def access(env: DsrEnv, **config: object) -> ExecuteInProcessResult:
    return env.defs.resolve_job_def("register_access_request_job").execute_in_process(
        run_config={"ops": {"register_access_request": {"config": config}}},
        instance=env.instance,
        raise_on_error=False,
    )


def failure_of(result: ExecuteInProcessResult):  # type: ignore[no-untyped-def]
    (event,) = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    return event.event_specific_data


@pytest.mark.parametrize("job_name", sorted(INTAKE_JOBS))
def test_every_intake_form_opens_valid_with_no_resources_block(env: DsrEnv, job_name: str) -> None:
    text = launchpad_text(env, job_name)
    assert "resources" not in text  # ledger URL, keys folder, CRM URLs: not support's to edit
    assert validate_run_config(env.defs.resolve_job_def(job_name), text) is not None
    (op_name,) = text["ops"]
    job = env.defs.resolve_job_def(job_name)
    fields = job.graph.node_named(op_name).definition.config_schema.config_type.fields
    assert fields and all(f.description for f in fields.values()), job_name


def test_choices_are_checked_by_dagster_before_a_run_exists(env: DsrEnv) -> None:
    before = len(env.instance.get_runs())
    with pytest.raises(DagsterInvalidConfigError, match="scope"):
        access(env, email=DEMO_EMAIL, scope="everything")
    with pytest.raises(DagsterInvalidConfigError, match="kind"):
        access(env, email=DEMO_EMAIL, kind="everything")
    assert len(env.instance.get_runs()) == before


def test_a_malformed_email_fails_the_step_in_one_sentence_naming_the_field(env: DsrEnv) -> None:
    result = access(env, email="maria.jensen@example")
    assert not result.success
    failure = failure_of(result)
    description = failure.user_failure_data.description
    assert "email" in description and "\n" not in description
    assert description.count(". ") == 0 and description.endswith(".")
    assert failure.user_failure_data.metadata["field"].value == "email"
    assert failure.error.cause is None  # no "caused by" exception from deep code
    assert env.ledger.list_requests() == []
    assert known_request_partitions(env.instance) == set()
    tags = env.instance.get_run_by_id(result.run_id).tags
    assert len(tags[SUBJECT_HASH_TAG]) == 64 and "maria" not in str(tags)


def test_an_empty_form_is_refused_by_the_step_not_registered(env: DsrEnv) -> None:
    result = access(env)
    assert not result.success
    assert "email" in failure_of(result).user_failure_data.description
    assert env.ledger.list_requests() == []


def test_a_client_is_given_by_its_name_or_its_id(env: DsrEnv) -> None:
    common = {"email": DEMO_EMAIL, "scope": "client_data", "authorization_ref": "NW-DPA-2026-01"}
    assert access(env, client="northwind traders", **common).success
    assert access(env, client=NORTHWIND, kind="portability", **common).success
    first, second = sorted(env.ledger.list_requests(), key=lambda r: r.received_at)
    assert first.client_id == second.client_id == NORTHWIND
    assert first.scope == Scope.CLIENT_DATA and str(second.type) == "portability"


def test_an_unknown_client_name_is_refused_with_the_closest_names(env: DsrEnv) -> None:
    result = access(
        env,
        email=DEMO_EMAIL,
        scope="client_data",
        client="Northwind Trader",
        authorization_ref="NW-DPA-2026-01",
    )
    assert not result.success
    failure = failure_of(result).user_failure_data
    assert "client" in failure.description
    assert "'Northwind Traders'" in failure.description
    assert env.ledger.list_requests() == []


def test_a_dry_run_finds_the_clients_rows_by_its_name(env: DsrEnv) -> None:
    config = {
        "email": DEMO_EMAIL,
        "dry_run": True,
        "scope": "client_data",
        "client": "Northwind Traders",
        "authorization_ref": "NW-DPA-2026-01",
    }
    result = env.defs.resolve_job_def("register_erasure_request_job").execute_in_process(
        run_config={"ops": {"register_erasure_request": {"config": config}}},
        instance=env.instance,
    )
    metadata = next(
        e.event_specific_data.metadata
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_OUTPUT
    )
    # Her rows in Northwind's tenant, as by its id: crm:us lines of the plan with counts.
    counts = [
        int(line.strip("|").split("|")[-1])
        for line in metadata["plan"].value.splitlines()
        if line.startswith("| crm:us ")
    ]
    assert counts and sum(counts) > 0
    assert env.ledger.list_requests() == []
