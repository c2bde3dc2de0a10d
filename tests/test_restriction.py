"""Restriction of processing (Art. 18) and objection (Art. 21): a flag in every region."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInvalidConfigError, build_sensor_context
from sqlalchemy import select
from typer.testing import CliRunner

from dsr.cli.main import app
from dsr.democrm.planted import DEMO_EMAIL, client_id, expected_rows
from dsr.democrm.schema import contacts, marketing_subscriptions, users
from dsr.ledger import RequestType, Scope, State
from pipelines.launch import run_fulfilment
from resources.engines import engine_for
from tests.dsr_env import DsrEnv, demo_environment, subscribe_in_eu

NORTHWIND = str(client_id("Northwind Traders"))
JOB = "restriction_fulfilment"
MARIA_US = expected_rows("us")["maria"]
PRIYA_US = expected_rows("us")["priya"]
TOM_US = expected_rows("us")["tom"]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        subscribe_in_eu(env)
        yield env


def flags(env: DsrEnv, region: str, table, ids) -> list:  # type: ignore[no-untyped-def]
    with engine_for(env.settings.crm_urls[region]).connect() as conn:
        query = select(table.c.processing_restricted).where(table.c.id.in_(ids))
        return [r[0] for r in conn.execute(query)]


def subscription_flags(env: DsrEnv, region: str) -> list:
    table = marketing_subscriptions
    with engine_for(env.settings.crm_urls[region]).connect() as conn:
        query = select(table.c.processing_restricted).where(table.c.email.ilike(DEMO_EMAIL))
        return [r[0] for r in conn.execute(query)]


def test_a_restriction_waits_for_a_verified_identity_then_flags_every_region(
    env: DsrEnv,
) -> None:
    record = env.register(
        DEMO_EMAIL, type=RequestType.RESTRICTION, payload={"grounds": "legal_claims"}
    )
    early = run_fulfilment(env.defs, env.instance, record.request_id, job_name=JOB)
    assert not early.success
    assert env.ledger.get(record.request_id).state == State.RECEIVED
    assert flags(env, "us", users, MARIA_US["users"]) == [None]
    sensor = env.defs.resolve_sensor_def("pending_requests")
    with build_sensor_context(
        instance=env.instance, definitions=env.defs, resources={"ledger": env.resources["ledger"]}
    ) as ctx:
        assert sensor(ctx).run_requests == []

    env.ledger.mark_identity_verified(record.request_id, by="agent-7")
    assert run_fulfilment(env.defs, env.instance, record.request_id, job_name=JOB).success
    assert flags(env, "us", users, MARIA_US["users"]) == [True]
    assert subscription_flags(env, "us") == [True]
    assert subscription_flags(env, "eu") == [True]
    assert flags(env, "us", users, PRIYA_US["users"]) == [None]  # nobody else
    # user_account scope: the Clients' records of her are not iNextCRM's to restrict.
    assert flags(env, "us", contacts, MARIA_US["contacts"]) == [None]

    done = env.ledger.get(record.request_id)
    assert done.state == State.FULFILLED
    assert done.result["action"] == "restriction"
    assert done.result["rows_per_system"] == {"crm:eu": 1, "crm:us": 2}
    restricted = [e for e in env.ledger.audit_entries(record.request_id) if e.event == "restricted"]
    assert {e.details["grounds"] for e in restricted} == {"legal_claims"}
    assert "@" not in json.dumps([e.details for e in restricted])


def test_a_clients_restriction_flags_only_its_contact(env: DsrEnv) -> None:
    record = env.register(
        DEMO_EMAIL,
        type=RequestType.RESTRICTION,
        scope=Scope.CLIENT_DATA,
        client_id=NORTHWIND,
        authorization_ref="NW-DPA-9",
        payload={"grounds": "accuracy_contested"},
    )
    # A Client's documented instruction is the authority here: no identity check blocks it.
    assert run_fulfilment(env.defs, env.instance, record.request_id, job_name=JOB).success
    assert flags(env, "us", contacts, MARIA_US["contacts"]) == [True]
    assert flags(env, "us", contacts, TOM_US["contacts"]) == [None]
    assert flags(env, "us", users, MARIA_US["users"]) == [None]
    assert subscription_flags(env, "us") == [None]


def launchpad(env: DsrEnv, **config: object) -> bool:
    job = env.defs.resolve_job_def("register_restriction_request_job")
    return job.execute_in_process(
        run_config={"ops": {"register_restriction_request": {"config": config}}},
        instance=env.instance,
        raise_on_error=False,
    ).success


def test_the_launchpad_form_needs_valid_grounds_and_input(env: DsrEnv) -> None:
    with pytest.raises(DagsterInvalidConfigError):
        launchpad(env, email=DEMO_EMAIL, grounds="because")
    assert not launchpad(env, email="maria at example.org", grounds="legal_claims")
    assert not launchpad(env, email=DEMO_EMAIL)  # the form's default leaves the grounds unchosen
    assert not launchpad(
        env, email=DEMO_EMAIL, grounds="legal_claims", scope="client_data", client="424242"
    )
    assert env.ledger.list_requests() == []

    assert launchpad(
        env, email=DEMO_EMAIL, grounds="objection_pending", identity_verified_by="agent-7"
    )
    (record,) = env.ledger.list_requests()
    assert record.type == RequestType.RESTRICTION and record.identity_verified
    assert env.ledger.payload(record.request_id) == {"grounds": "objection_pending"}


def test_cli_restrict(env: DsrEnv) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["restrict", "--email", DEMO_EMAIL, "--grounds", "x", "--json"])
    assert bad.exit_code == 2 and "grounds" in json.loads(bad.stdout)["error"]
    queued = runner.invoke(
        app, ["restrict", "--email", DEMO_EMAIL, "--grounds", "legal_claims", "--json"]
    )
    assert queued.exit_code == 0
    waiting = json.loads(queued.stdout)
    assert waiting["state"] == "received" and "verify-identity" in waiting["waiting_for"]
    done = runner.invoke(
        app,
        ["restrict", "--email", DEMO_EMAIL, "--grounds", "legal_claims", "--verified-by", "a-7"],
    )
    assert done.exit_code == 0, done.stdout
    assert "fulfilled" in done.stdout and "users" in done.stdout
    assert flags(env, "us", users, MARIA_US["users"]) == [True]
