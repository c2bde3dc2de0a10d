"""Marketing opt-out (policy 5.3): suppression in every region, within ten business days."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import AssetKey, build_sensor_context
from sqlalchemy import select
from typer.testing import CliRunner

from connectors.base import EMAIL, Identity
from dsr.cli.main import app
from dsr.democrm.planted import DEMO_EMAIL, client_id, expected_rows
from dsr.democrm.schema import contacts, marketing_subscriptions, users
from dsr.keys import KeyRing
from dsr.ledger import Ledger, RequestType, Scope, State
from dsr.ledger.dates import due_date
from pipelines.launch import run_fulfilment
from resources.engines import engine_for
from tests.dsr_env import DsrEnv, demo_environment, subscribe_in_eu

NORTHWIND = str(client_id("Northwind Traders"))
MARIA_US = expected_rows("us")["maria"]
MARIA_EU = expected_rows("eu")["maria"]
TOM_US = expected_rows("us")["tom"]
JOB = "opt_out_fulfilment"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        # A second subscription in eu, so the opt-out has something to do in every region, and
        # one of another person on the same list that must stay subscribed.
        subscribe_in_eu(env, DEMO_EMAIL, "jonas.weber@example.net")
        yield env


def rows(env: DsrEnv, region: str, query):  # type: ignore[no-untyped-def]
    with engine_for(env.settings.crm_urls[region]).connect() as conn:
        return conn.execute(query).mappings().all()


def subscriptions(env: DsrEnv, region: str, email: str) -> list[dict]:
    table = marketing_subscriptions
    query = select(table).where(table.c.email.ilike(email)).order_by(table.c.id)
    return [dict(r) for r in rows(env, region, query)]


def opt_out(env: DsrEnv, *emails: str, **kwargs: object) -> str:
    record = env.register(*emails, type=RequestType.OPT_OUT, **kwargs)
    result = run_fulfilment(env.defs, env.instance, record.request_id, job_name=JOB)
    assert result.success, env.ledger.get(record.request_id).failure_reason
    return record.request_id


# -- the deadline ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due"),
    [
        # Friday: the two weekends in between do not count.
        (datetime(2026, 11, 27, 10, 30, tzinfo=UTC), datetime(2026, 12, 11, 10, 30, tzinfo=UTC)),
        # Saturday: counting starts on Monday, so the due day is the Friday two weeks on.
        (datetime(2026, 11, 28, 8, 0, tzinfo=UTC), datetime(2026, 12, 11, 8, 0, tzinfo=UTC)),
        # Across a month and a year end: Christmas Day (Fri) and New Year's Day (Fri) are legal
        # public holidays, so not business days either (Jan 7 if only weekends were skipped).
        (datetime(2026, 12, 24, 23, 0, tzinfo=UTC), datetime(2027, 1, 11, 23, 0, tzinfo=UTC)),
        # Thanksgiving (Thu) is a holiday; the Friday after it is a business day.
        (datetime(2026, 11, 25, 9, 0, tzinfo=UTC), datetime(2026, 12, 10, 9, 0, tzinfo=UTC)),
    ],
)
def test_an_opt_out_is_due_ten_business_days_after_receipt(
    db_url: str, tmp_path: Path, received: datetime, due: datetime
) -> None:
    ledger = Ledger(db_url, KeyRing(tmp_path / "keys"))
    ledger.create_schema()
    me = [Identity(EMAIL, "someone@example.org")]
    record = ledger.register(
        type=RequestType.OPT_OUT, scope=Scope.USER_ACCOUNT, identities=me, received_at=received
    )
    assert record.due_at == due
    registered = ledger.audit_entries(record.request_id)[0]
    assert registered.details["due_at"] == due.isoformat()
    # Other requests keep the one calendar month of Art. 12(3).
    access = ledger.register(
        type=RequestType.ACCESS, scope=Scope.USER_ACCOUNT, identities=me, received_at=received
    )
    assert access.due_at == due_date(received)
    ledger.close()


# -- fulfilment -----------------------------------------------------------------------------


def test_opt_out_suppresses_her_in_every_region_and_nobody_else(env: DsrEnv) -> None:
    rid = opt_out(env, DEMO_EMAIL)

    (us_sub,) = subscriptions(env, "us", DEMO_EMAIL)
    (eu_sub,) = subscriptions(env, "eu", DEMO_EMAIL)
    for sub in (us_sub, eu_sub):
        assert sub["status"] == "unsubscribed" and sub["unsubscribed_at"] is not None
    (her_user,) = rows(env, "us", select(users).where(users.c.id.in_(MARIA_US["users"])))
    assert her_user["marketing_opt_out"] is True
    # user_account scope is iNextCRM's own marketing: the Clients' contact records are theirs.
    her_contacts = rows(env, "us", select(contacts).where(contacts.c.id.in_(MARIA_US["contacts"])))
    assert [c["marketing_opt_out"] for c in her_contacts] == [None]
    (jonas_sub,) = subscriptions(env, "eu", "jonas.weber@example.net")
    assert jonas_sub["status"] == "subscribed" and jonas_sub["unsubscribed_at"] is None
    others = rows(
        env,
        "us",
        select(marketing_subscriptions.c.id).where(
            marketing_subscriptions.c.unsubscribed_at.is_not(None),
            marketing_subscriptions.c.status == "subscribed",
        ),
    )
    assert others == []  # no one else's subscription was half-changed

    done = env.ledger.get(rid)
    assert done.state == State.FULFILLED
    assert done.result["rows_per_system"] == {"crm:eu": 1, "crm:us": 2}
    assert done.result["rows_per_table"]["crm:us"] == {
        "marketing_subscriptions": {"already": 0, "set": 1},
        "users": {"already": 0, "set": 1},
    }
    suppressed = [e for e in env.ledger.audit_entries(rid) if e.event == "suppressed"]
    assert sorted(e.details["region"] for e in suppressed) == ["eu", "us"]
    assert "@" not in json.dumps([e.details for e in suppressed])
    assert {e.details["subject_hash"] for e in suppressed} == {done.subject_hash}
    event = env.instance.get_latest_materialization_event(AssetKey("crm_us_opt_out"))
    metadata = event.asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["set_per_table"].value == {"marketing_subscriptions": 1, "users": 1}


def test_a_second_opt_out_changes_nothing_and_keeps_the_first_time(env: DsrEnv) -> None:
    opt_out(env, DEMO_EMAIL)
    first = subscriptions(env, "us", DEMO_EMAIL)[0]["unsubscribed_at"]
    rid = opt_out(env, DEMO_EMAIL)
    assert subscriptions(env, "us", DEMO_EMAIL)[0]["unsubscribed_at"] == first
    done = env.ledger.get(rid)
    assert done.result["rows_per_system"] == {"crm:eu": 0, "crm:us": 0}
    assert done.result["rows_per_table"]["crm:us"]["users"] == {"already": 1, "set": 0}


def test_a_clients_opt_out_sets_only_that_tenants_contact_flag(env: DsrEnv) -> None:
    rid = opt_out(
        env, DEMO_EMAIL, scope=Scope.CLIENT_DATA, client_id=NORTHWIND, authorization_ref="NW-2"
    )
    mine = rows(env, "us", select(contacts).where(contacts.c.id.in_(MARIA_US["contacts"])))
    assert [c["marketing_opt_out"] for c in mine] == [True]
    fabrikam = rows(env, "eu", select(contacts).where(contacts.c.id.in_(MARIA_EU["contacts"])))
    assert [c["marketing_opt_out"] for c in fabrikam] == [None]  # another Client's record
    tom = rows(env, "us", select(contacts).where(contacts.c.id.in_(TOM_US["contacts"])))
    assert [c["marketing_opt_out"] for c in tom] == [None]
    # iNextCRM's own newsletter is not the Client's to stop.
    assert subscriptions(env, "us", DEMO_EMAIL)[0]["status"] == "subscribed"
    assert env.ledger.get(rid).result["rows_per_system"] == {"crm:eu": 0, "crm:us": 1}


# -- refusals and failures ------------------------------------------------------------------


def launchpad(env: DsrEnv, **config: object) -> bool:
    job = env.defs.resolve_job_def("register_opt_out_request_job")
    return job.execute_in_process(
        run_config={"ops": {"register_opt_out_request": {"config": config}}},
        instance=env.instance,
        raise_on_error=False,
    ).success


def test_the_launchpad_form_registers_and_refuses_bad_input(env: DsrEnv) -> None:
    assert not launchpad(env, email="not-an-address")
    assert not launchpad(env, email="x@example.org'; DROP TABLE users; --")
    assert not launchpad(env, email=DEMO_EMAIL, scope="client_data", client="999999")
    assert not launchpad(env, email=DEMO_EMAIL, scope="client_data", client=NORTHWIND)
    assert env.ledger.list_requests() == []  # nothing registered by any refusal

    assert launchpad(env, email=DEMO_EMAIL, ticket_ref="SUP-77")
    (record,) = env.ledger.list_requests()
    assert record.type == RequestType.OPT_OUT and record.channel == "launchpad"
    assert (record.due_at - record.received_at).days in (14, 15, 16)  # 10 business days
    sensor = env.defs.resolve_sensor_def("pending_requests")
    with build_sensor_context(
        instance=env.instance, definitions=env.defs, resources={"ledger": env.resources["ledger"]}
    ) as ctx:
        (launch,) = sensor(ctx).run_requests
    assert (launch.partition_key, launch.job_name) == (record.request_id, JOB)


def test_an_unreachable_region_leaves_the_opt_out_failed_not_fulfilled(env: DsrEnv) -> None:
    record = env.register(DEMO_EMAIL, type=RequestType.OPT_OUT)
    eu_file = Path(env.settings.crm_urls["eu"].removeprefix("sqlite:///"))
    eu_file.rename(eu_file.with_suffix(".away"))
    result = run_fulfilment(env.defs, env.instance, record.request_id, job_name=JOB)
    assert not result.success
    failed = env.ledger.get(record.request_id)
    assert failed.state == State.FAILED
    assert "identity resolution failed" in failed.failure_reason
    assert "'eu'" in failed.failure_reason
    assert subscriptions(env, "us", DEMO_EMAIL)[0]["status"] == "subscribed"

    # Once the region is back, running the same request again completes it.
    eu_file.with_suffix(".away").rename(eu_file)
    again = run_fulfilment(env.defs, env.instance, record.request_id, job_name=JOB)
    assert again.success
    assert env.ledger.get(record.request_id).state == State.FULFILLED


def test_a_region_failing_at_its_own_step_names_that_step(env: DsrEnv) -> None:
    record = env.register(DEMO_EMAIL, type=RequestType.OPT_OUT)
    # The eu subscription table refuses the update (a trigger stands in for a broken disk).
    with engine_for(env.settings.crm_urls["eu"]).begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER no_unsubscribe BEFORE UPDATE ON marketing_subscriptions "
            "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
    result = run_fulfilment(env.defs, env.instance, record.request_id, job_name=JOB)
    assert not result.success
    failed = env.ledger.get(record.request_id)
    assert failed.state == State.FAILED
    assert failed.failure_reason.startswith("crm:eu opt-out failed")
    assert subscriptions(env, "eu", DEMO_EMAIL)[0]["status"] == "subscribed"  # rolled back


runner = CliRunner()


def test_cli_opt_out_reports_counts_and_refuses_bad_input(env: DsrEnv) -> None:
    bad = runner.invoke(app, ["opt-out", "--email", "nobody-at-example.org", "--json"])
    assert bad.exit_code == 2 and json.loads(bad.stdout)["ok"] is False
    no_mandate = runner.invoke(
        app, ["opt-out", "--email", DEMO_EMAIL, "--scope", "client_data", "--client", NORTHWIND]
    )
    assert no_mandate.exit_code == 2 and "authorisation" in no_mandate.stderr
    assert env.ledger.list_requests() == []

    ok = runner.invoke(app, ["opt-out", "--email", DEMO_EMAIL, "--json"])
    assert ok.exit_code == 0, ok.stdout
    payload = json.loads(ok.stdout)
    assert payload["state"] == "fulfilled" and payload["rows_per_system"]["crm:us"] == 2
    assert payload["rows_per_table"]["crm:eu"]["marketing_subscriptions"]["set"] == 1
    table = runner.invoke(app, ["opt-out", "--email", DEMO_EMAIL])
    assert table.exit_code == 0 and "already set" in table.stdout and "fulfilled" in table.stdout


# -- the connector on either backend, and older CRMs -----------------------------------------


def test_flagger_sets_once_and_only_her_rows_on_either_backend(db_url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from connectors.crm.datamap import load_datamap
    from connectors.crm.flags import CrmFlagger
    from connectors.crm.sql import CrmSqlConnector
    from connectors.identities import parse_identity
    from dsr.democrm.planted import plant
    from dsr.democrm.seed import seed
    from dsr.settings import DEMO_DATAMAP

    engine = create_engine(db_url, poolclass=NullPool)
    seed(engine, region="us", contacts=60, seed=5)
    plant(engine, "us")
    connector = CrmSqlConnector("us", engine, load_datamap(DEMO_DATAMAP))
    connector.validate()
    her = {parse_identity("email", DEMO_EMAIL)}
    flagger = CrmFlagger(connector)
    at = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)

    def plan():  # type: ignore[no-untyped-def]
        found = connector.find({"r": her}, scope="user_account")["r"]
        return flagger.plan(found, "suppression", at=at)

    first = plan()
    assert flagger.apply(first) == 2
    with engine.connect() as conn:
        subscribed_at = conn.execute(
            select(marketing_subscriptions.c.unsubscribed_at).where(
                marketing_subscriptions.c.id.in_(MARIA_US["marketing_subscriptions"])
            )
        ).scalar_one()
        opted_out = (
            conn.execute(select(users.c.id).where(users.c.marketing_opt_out.is_(True)))
            .scalars()
            .all()
        )
    assert subscribed_at == datetime(2026, 11, 27, 10, 30)  # naive UTC, as the CRM keeps time
    assert opted_out == MARIA_US["users"]
    again = plan()
    assert again.changes == [] and flagger.apply(again) == 0
    assert again.counts() == {
        "marketing_subscriptions": {"already": 1, "set": 0},
        "users": {"already": 1, "set": 0},
    }
    engine.dispose()


def test_a_crm_seeded_before_the_flag_columns_gets_them_and_fits_the_map(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, inspect

    from connectors.crm.datamap import DataMapError, load_datamap
    from connectors.crm.sql import CrmSqlConnector
    from dsr.democrm.schema import create_schema
    from dsr.settings import DEMO_DATAMAP

    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    create_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE users DROP COLUMN marketing_opt_out")
    connector = CrmSqlConnector("us", engine, load_datamap(DEMO_DATAMAP))
    with pytest.raises(DataMapError, match="marketing_opt_out"):
        connector.validate()
    create_schema(engine)  # what `dsr seed` runs first
    assert "marketing_opt_out" in {c["name"] for c in inspect(engine).get_columns("users")}
    CrmSqlConnector("us", engine, load_datamap(DEMO_DATAMAP)).validate()
