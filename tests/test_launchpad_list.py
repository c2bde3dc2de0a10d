"""The Launchpad's list form: each valid person registered, each bad one named by position."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from dagster import (
    DagsterEventType,
    ExecuteInProcessResult,
    build_sensor_context,
    validate_run_config,
)

from dsr.democrm.planted import DEMO_EMAIL, client_id
from dsr.ledger import RequestType
from pipelines.batch_access import ACCESS_BATCH_JOB
from pipelines.intake_names import LIST_INTAKE_JOB, REGISTERED_TAG, REQUEST_ID_TAG
from pipelines.intake_purge import purge_intake_runs
from pipelines.launch import run_fulfilment
from pipelines.partitions import known_request_partitions, partitions_name
from tests.clock import FROZEN_NOW
from tests.dsr_env import DsrEnv, demo_environment
from tests.test_launchpad_form import launchpad_text

NORTHWIND = str(client_id("Northwind Traders"))
TOM = "tom.becker@example.net"
PRIYA = "priya.raman@northwind.test"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def submit(env: DsrEnv, **config: object) -> ExecuteInProcessResult:
    return env.defs.resolve_job_def(LIST_INTAKE_JOB).execute_in_process(
        run_config={"ops": {"register_request_list": {"config": config}}},
        instance=env.instance,
        raise_on_error=False,
    )


def output_metadata(result: ExecuteInProcessResult) -> dict:
    (event,) = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_OUTPUT]
    return {k: v.value for k, v in event.event_specific_data.metadata.items()}


def failure_of(result: ExecuteInProcessResult):  # type: ignore[no-untyped-def]
    (event,) = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    return event.event_specific_data


def table_rows(markdown: str) -> dict[int, tuple[str, str]]:
    """person -> (outcome, request id or reason), from the metadata's markdown table."""
    rows = {}
    for line in markdown.splitlines()[2:]:
        person, outcome, detail = (c.strip() for c in line.strip("|").split(" | ", 2))
        rows[int(person)] = (outcome, detail)
    return rows


FIVE = [
    {"email": DEMO_EMAIL, "ticket_ref": "SUP-1"},
    {"email": "maria.jensen@example"},  # no top-level domain
    {"email": TOM, "scope": "client_data", "client": "Northwind Traders"},  # no authorisation
    {"email": PRIYA, "phone": "+1 415 555 0101"},
    {
        "email": "lena@example.org",
        "scope": "client_data",
        "client": "Northwind Traders",
        "authorization_ref": "NW-DPA-9",
    },
]


def test_valid_people_are_registered_bad_ones_named_by_position(env: DsrEnv) -> None:
    result = submit(env, kind="portability", people=FIVE, ticket_ref="SUP-9")
    assert result.success  # some people registered: support reads the rest in the table
    metadata = output_metadata(result)
    assert metadata["registered"] == 3 and metadata["rejected"] == 2
    rows = table_rows(metadata["people"])
    assert {p for p, (outcome, _) in rows.items() if outcome == "rejected"} == {2, 3}
    assert "e-mail is not a valid address" in rows[2][1]
    assert "authorisation" in rows[3][1]
    assert sum(metadata["rejected_by_reason"].values()) == 2
    records = {r.request_id: r for r in env.ledger.list_requests()}
    assert len(records) == 3 and set(metadata["request_ids"]) == set(records)
    assert {r.type for r in records.values()} == {RequestType.PORTABILITY}
    assert {p: records[rows[p][1]].ticket_ref for p in (1, 4, 5)} == {
        1: "SUP-1",  # the person's own ticket wins over the form's
        4: "SUP-9",
        5: "SUP-9",
    }
    lena = records[rows[5][1]]
    assert lena.client_id == NORTHWIND and str(lena.scope) == "client_data"
    # Portability requests are partitions of the access kind's set.
    partitions = set(env.instance.get_dynamic_partitions(partitions_name("access")))
    assert partitions == known_request_partitions(env.instance) == set(records)
    run = env.instance.get_run_by_id(result.run_id)
    assert run.tags[REGISTERED_TAG] == "3" and REQUEST_ID_TAG not in run.tags
    # Tags and event logs name no one: only the config holds the people.
    logs = json.dumps([str(e.event_specific_data) + e.message for e in result.all_events])
    needles = [DEMO_EMAIL.split("@")[0], "maria.jensen", "tom.becker", "priya", "lena", "0101"]
    for text in (json.dumps(dict(run.tags)), logs, json.dumps(metadata)):
        assert not [n for n in needles if n in text.lower()]


def test_the_sensor_fulfils_the_list_in_one_batch_run_once_the_intake_run_ended(
    env: DsrEnv,
) -> None:
    people = [{"email": DEMO_EMAIL}, {"email": TOM}, {"email": PRIYA}]
    result = submit(env, kind="access", people=people)
    sensor = env.defs.resolve_sensor_def("pending_requests")
    resources = {"ledger": env.resources["ledger"]}
    with build_sensor_context(
        instance=env.instance, definitions=env.defs, resources=resources
    ) as ctx:
        [launch] = sensor(ctx).run_requests
    assert launch.job_name == ACCESS_BATCH_JOB
    assert set(launch.tags["dsr/batch_requests"].split(",")) == set(
        output_metadata(result)["request_ids"]
    )


def test_the_hourly_purge_keeps_a_list_run_that_registered_and_drops_a_refused_one(
    env: DsrEnv,
) -> None:
    registered = submit(env, kind="opt_out", people=[{"email": TOM}])
    refused = submit(env, kind="opt_out", people=[{"email": "maria.jensen@example"}])
    with time_machine.travel(FROZEN_NOW + timedelta(hours=25)):
        assert purge_intake_runs(env.instance, timedelta(hours=24)) == 1
    left = {r.run_id for r in env.instance.get_runs()}
    assert registered.run_id in left and refused.run_id not in left


def test_an_erasure_list_takes_a_per_person_identity_check(env: DsrEnv) -> None:
    people = [{"email": DEMO_EMAIL}, {"email": TOM, "identity_verified_by": "agent-3"}]
    assert submit(env, kind="erasure", people=people).success
    records = env.ledger.list_requests()
    assert {r.type for r in records} == {RequestType.ERASURE}
    assert sorted(r.identity_verified for r in records) == [False, True]


def test_a_list_where_everyone_is_refused_fails_in_one_sentence(env: DsrEnv) -> None:
    result = submit(
        env,
        kind="erasure",
        people=[{"email": "maria.jensen@example"}, {"email": TOM, "scope": "client_data"}],
    )
    assert not result.success
    failure = failure_of(result)
    description = failure.user_failure_data.description
    assert description.startswith("Nothing registered, check the form's people field: all 2")
    assert "person 1" in description and "\n" not in description
    assert description.count(". ") == 0 and description.endswith(".")
    assert failure.error.cause is None
    assert failure.user_failure_data.metadata["rejected"].value == 2
    assert env.ledger.list_requests() == []
    assert known_request_partitions(env.instance) == set()


def test_an_empty_list_is_refused_naming_the_people_field(env: DsrEnv) -> None:
    result = submit(env, kind="access")
    assert not result.success
    assert "people" in failure_of(result).user_failure_data.description
    assert env.ledger.list_requests() == []


def test_injection_in_a_field_is_refused_or_stored_as_plain_text(env: DsrEnv) -> None:
    people = [
        {"email": "x@example.org'; DROP TABLE requests; --"},
        {"email": DEMO_EMAIL, "ticket_ref": "SUP-1'); DELETE FROM requests; --"},
        {"email": PRIYA, "name": "Robert'); DROP TABLE users; --"},
        {"email": TOM, "name": "Tom O'Becker-Smith"},
    ]
    result = submit(env, kind="access", people=people)
    assert result.success
    rows = table_rows(output_metadata(result)["people"])
    assert [rows[p][0] for p in (1, 2, 3, 4)] == ["rejected"] * 3 + ["registered"]
    assert "ticket reference" in rows[2][1] and "name may hold" in rows[3][1]
    (record,) = env.ledger.list_requests()  # the tables are all still there
    assert record.request_id == rows[4][1]
    names = [i.value for i in env.ledger.identities(record.request_id) if i.kind == "name"]
    assert names == ["tom o'becker-smith"]  # normalised for matching, quote and all


def test_erasing_one_person_on_the_list_deletes_the_list_run(env: DsrEnv) -> None:
    listed = submit(env, kind="access", people=[{"email": TOM}, {"email": DEMO_EMAIL.upper()}])
    refused = submit(env, kind="access", people=[{"email": PRIYA, "scope": "client_data"}])
    assert listed.success and not refused.success
    erasure = env.defs.resolve_job_def("register_erasure_request_job").execute_in_process(
        run_config={
            "ops": {
                "register_erasure_request": {
                    "config": {"email": DEMO_EMAIL, "identity_verified_by": "agent-7"}
                }
            }
        },
        instance=env.instance,
    )
    request_id = env.instance.get_run_by_id(erasure.run_id).tags[REQUEST_ID_TAG]
    assert run_fulfilment(env.defs, env.instance, request_id, job_name="erasure_fulfilment").success
    left = {r.run_id for r in env.instance.get_runs()}
    assert listed.run_id not in left and erasure.run_id not in left
    assert refused.run_id in left  # a list without her is not hers to take


def test_the_list_form_opens_valid(env: DsrEnv) -> None:
    text = launchpad_text(env, LIST_INTAKE_JOB)
    assert "resources" not in text
    assert text["ops"]["register_request_list"]["config"]["kind"] == "access"
    job = env.defs.resolve_job_def(LIST_INTAKE_JOB)
    assert validate_run_config(job, text) is not None
    person = {"email": DEMO_EMAIL, "scope": "client_data", "client": "Northwind Traders"}
    filled = {"ops": {"register_request_list": {"config": {"people": [person]}}}}
    assert validate_run_config(job, filled) is not None
