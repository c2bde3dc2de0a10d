"""Lifting a restriction (Art. 18(3)): flags cleared everywhere, restores replay it, purges wait."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterRunStatus, RunsFilter
from sqlalchemy import create_engine, select, update
from sqlalchemy.schema import CreateTable
from typer.testing import CliRunner

from connectors.base import Identity
from dsr.cli.main import app
from dsr.democrm.planted import DEMO_EMAIL, client_id, expected_rows
from dsr.democrm.schema import clients, contacts, marketing_subscriptions, users
from dsr.erasure.restore import restore
from dsr.keys import KeyRing
from dsr.ledger import IdentitiesForgotten, Ledger, RequestRecord, RequestType, Scope, State
from dsr.ledger.schema import requests
from pipelines.intake_names import REQUEST_ID_TAG
from pipelines.launch import run_fulfilment
from resources.engines import engine_for
from tests.backup_env import eraser_factory
from tests.dsr_env import DsrEnv, demo_environment_on, subscribe_in_eu

NORTHWIND = str(client_id("Northwind Traders"))
MARIA_US = expected_rows("us")["maria"]
PRIYA_US = expected_rows("us")["priya"]
runner = CliRunner()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment_on(request, tmp_path / "home") as made:
        subscribe_in_eu(made)  # so a lift has two regions to reach
        yield made


def restrict(env: DsrEnv, **kw: Any) -> RequestRecord:
    kw.setdefault("verified_by", "agent-7")
    kw.setdefault("payload", {"grounds": "legal_claims"})
    if kw.get("scope") == Scope.CLIENT_DATA:
        kw |= {"client_id": NORTHWIND, "authorization_ref": "NW-DPA-9"}
    record = env.register(DEMO_EMAIL, type=RequestType.RESTRICTION, **kw)
    job = "restriction_fulfilment"
    assert run_fulfilment(env.defs, env.instance, record.request_id, job_name=job).success
    return env.ledger.get(record.request_id)


def lift(request_id: str, *extra: str) -> Any:
    args = ["lift-restriction", request_id, "--reason", "claim settled", "--by", "agent-7"]
    return runner.invoke(app, [*args, "--notified-via", "SUP-1234", *extra])


def flags(env: DsrEnv, region: str, table: Any, ids: list[int]) -> list[Any]:
    with engine_for(env.settings.crm_urls[region]).connect() as conn:
        query = select(table.c.processing_restricted).where(table.c.id.in_(ids))
        return [r[0] for r in conn.execute(query.order_by(table.c.id))]


def subscription_flags(env: DsrEnv, region: str) -> list[Any]:
    t = marketing_subscriptions
    with engine_for(env.settings.crm_urls[region]).connect() as conn:
        query = select(t.c.processing_restricted).where(t.c.email.ilike(DEMO_EMAIL))
        return [r[0] for r in conn.execute(query)]


def maria_flags(env: DsrEnv) -> dict[str, list[Any]]:
    return {
        "users": flags(env, "us", users, MARIA_US["users"]),
        "contacts": flags(env, "us", contacts, MARIA_US["contacts"]),
        "subscriptions:us": subscription_flags(env, "us"),
        "subscriptions:eu": subscription_flags(env, "eu"),
    }


def test_a_lift_clears_the_flag_in_every_region_and_is_audited(env: DsrEnv) -> None:
    record = restrict(env)
    assert maria_flags(env)["users"] == [True]
    # Kept while in force: the lift finds her rows with them.
    assert env.ledger.identities(record.request_id)

    done = lift(record.request_id, "--json")
    assert done.exit_code == 0, done.stdout
    out = json.loads(done.stdout)
    assert out["state"] == "lifted"
    assert out["rows_cleared_per_system"] == {"crm:eu": 1, "crm:us": 2}
    assert maria_flags(env) == {
        "users": [False],
        "contacts": [None],  # never restricted (user_account scope): untouched
        "subscriptions:us": [False],
        "subscriptions:eu": [False],
    }
    assert flags(env, "us", users, PRIYA_US["users"]) == [None]

    lifted = env.ledger.get(record.request_id)
    assert lifted.state == State.LIFTED
    assert lifted.result["lifted"]["notified_via"] == "SUP-1234"
    assert lifted.result["rows_per_system"] == {"crm:eu": 1, "crm:us": 2}  # the restriction's
    (entry,) = [
        e for e in env.ledger.audit_entries(record.request_id) if e.event == "restriction_lifted"
    ]
    assert entry.details["reason"] == "claim settled" and entry.details["by"] == "agent-7"
    assert entry.details["rows_per_table"]["crm:us"]["users"] == {
        "cleared": 1,
        "kept": 0,
        "already_clear": 0,
    }
    assert "@" not in json.dumps(entry.details)
    with pytest.raises(IdentitiesForgotten):
        env.ledger.identities(record.request_id)
    # The lift is a run in the UI, found by the request id.
    runs = env.instance.get_run_records(
        RunsFilter(tags={REQUEST_ID_TAG: record.request_id}, job_name="lift_restriction_job")
    )
    assert [r.dagster_run.status for r in runs] == [DagsterRunStatus.SUCCESS]

    shown = runner.invoke(app, ["status", record.request_id, "--json"])
    assert json.loads(shown.stdout)["state"] == "lifted"


def test_refused_lifts_change_nothing(env: DsrEnv) -> None:
    restriction = restrict(env)
    waiting = env.register(
        DEMO_EMAIL, type=RequestType.RESTRICTION, payload={"grounds": "objection_pending"}
    )  # not verified, so not fulfilled
    access = env.register(DEMO_EMAIL)
    before = (maria_flags(env), len(env.ledger.audit_entries()))
    for request_id, extra, why in [
        ("r-20260101-00000000", (), "no request"),
        ("maria.jensen@example.org", (), "not a request id"),
        (access.request_id, (), "not a restriction but an access request"),
        (waiting.request_id, (), "only a fulfilled restriction"),
        (restriction.request_id, ("--notified-via", " "), "told"),
        (restriction.request_id, ("--reason", ""), "reason"),
        (restriction.request_id, ("--by", "maria.jensen@example.org"), "e-mail"),
    ]:
        refused = lift(request_id, *extra, "--json")
        assert refused.exit_code == 2, (request_id, extra, refused.stdout)
        assert why in json.loads(refused.stdout)["error"]
    missing = runner.invoke(
        app, ["lift-restriction", restriction.request_id, "--reason", "x", "--by", "agent-7"]
    )
    assert missing.exit_code == 2 and "--notified-via" in missing.output
    assert (maria_flags(env), len(env.ledger.audit_entries())) == before
    assert env.ledger.get(restriction.request_id).state == State.FULFILLED
    assert env.ledger.get(waiting.request_id).state == State.RECEIVED
    assert env.instance.get_run_records(RunsFilter(job_name="lift_restriction_job")) == []

    assert lift(restriction.request_id).exit_code == 0
    after = (maria_flags(env), len(env.ledger.audit_entries()))
    again = lift(restriction.request_id, "--json")
    assert again.exit_code == 2 and "already lifted" in json.loads(again.stdout)["error"]
    assert (maria_flags(env), len(env.ledger.audit_entries())) == after


def test_a_second_restriction_in_force_keeps_the_flag(env: DsrEnv) -> None:
    first = restrict(env)
    second = restrict(env, payload={"grounds": "objection_pending"})
    assert second.result["rows_per_system"] == {"crm:eu": 0, "crm:us": 0}  # all already set
    theirs = restrict(env, scope=Scope.CLIENT_DATA)  # Northwind's instruction, its contact only
    assert maria_flags(env)["contacts"] == [True]

    done = lift(first.request_id, "--json")
    assert done.exit_code == 0, done.stdout
    per_table = json.loads(done.stdout)["rows_per_table"]
    assert per_table["crm:us"]["users"] == {"cleared": 0, "kept": 1, "already_clear": 0}
    assert maria_flags(env) == {
        "users": [True],
        "contacts": [True],
        "subscriptions:us": [True],
        "subscriptions:eu": [True],
    }

    assert lift(second.request_id).exit_code == 0
    # Her own account is free again; the Client's restriction of its contact still stands.
    assert maria_flags(env) == {
        "users": [False],
        "contacts": [True],
        "subscriptions:us": [False],
        "subscriptions:eu": [False],
    }
    assert env.ledger.get(theirs.request_id).state == State.FULFILLED
    assert lift(theirs.request_id).exit_code == 0
    assert maria_flags(env)["contacts"] == [False]


def test_a_restriction_whose_identities_were_forgotten_lifts_the_rows_it_set(
    env: DsrEnv,
) -> None:
    record = restrict(env)
    env.ledger.forget_identities(record.request_id)  # as an earlier version did at fulfilment
    done = lift(record.request_id, "--json")
    assert done.exit_code == 0, done.stdout
    assert json.loads(done.stdout)["rows_cleared_per_system"] == {"crm:eu": 1, "crm:us": 2}
    assert maria_flags(env)["users"] == [False]


def test_the_launchpad_lifts_through_the_same_path(env: DsrEnv) -> None:
    record = restrict(env)
    job = env.defs.resolve_job_def("lift_restriction_job")
    config = {"request_id": record.request_id, "reason": "verified", "lifted_by": "agent-7"}
    no_notice = {**config, "notified_via": ""}
    run = job.execute_in_process(
        run_config={"ops": {"lift_restriction": {"config": no_notice}}},
        instance=env.instance,
        raise_on_error=False,
    )
    assert not run.success and maria_flags(env)["users"] == [True]
    run = job.execute_in_process(
        run_config={"ops": {"lift_restriction": {"config": {**config, "notified_via": "L-77"}}}},
        instance=env.instance,
    )
    assert run.success and maria_flags(env)["users"] == [False]
    assert env.ledger.get(record.request_id).state == State.LIFTED


def restored_users_flag(env: DsrEnv, backup_id: str, tmp_path: Path, name: str) -> tuple:
    res = env.resources
    keys = res["ledger"].key_ring()
    if env.pg is None:
        target = str(tmp_path / name)
        url = f"sqlite:///{tmp_path / name / 'us.sqlite'}"
    else:
        db = env.pg.create_database()
        target = url = env.pg.url(db)
    report = restore(
        res["backups"].store(),
        backup_id,
        target,
        env.crm.datamap(),
        res["backups"].tombstones(),
        eraser_factory(keys),
    )
    assert report.usable and report.verification_ok
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            query = select(users.c.processing_restricted).where(users.c.id.in_(MARIA_US["users"]))
            flag = [r[0] for r in conn.execute(query)]
    finally:
        engine.dispose()
        if env.pg is not None:
            env.pg.drop_database(db)
    return flag, report


def test_a_restore_replays_the_restriction_then_its_lift(env: DsrEnv, tmp_path: Path) -> None:
    store = env.resources["backups"].store()
    url = env.settings.crm_urls["us"]
    datamap = env.crm.datamap()
    before = store.snapshot("us", url, datamap, now=datetime.now(UTC) - timedelta(hours=2))
    record = restrict(env)
    between = store.snapshot("us", url, datamap)
    assert lift(record.request_id).exit_code == 0

    flag, report = restored_users_flag(env, between.backup_id, tmp_path, "between")
    assert flag == [False]  # it held her restricted; the lift was replayed
    assert report.flags_reapplied("restriction_lift") == 1
    assert report.rows_changed >= 2  # her user row and her subscription
    flag, report = restored_users_flag(env, before.backup_id, tmp_path, "before")
    assert flag == [False]  # restriction replayed first, then the lift
    assert report.flags_reapplied("restriction") == 1
    assert report.flags_reapplied("restriction_lift") == 1

    # A second restriction, not lifted, comes back with a restore of either backup.
    restrict(env)
    flag, _ = restored_users_flag(env, between.backup_id, tmp_path, "again")
    assert flag == [True]


def test_the_closed_users_purge_holds_a_restricted_user_until_the_lift(env: DsrEnv) -> None:
    (uid,) = MARIA_US["users"]
    # The generated world closes some accounts; only hers is closed here.
    for region in ("us", "eu"):
        with engine_for(env.settings.crm_urls[region]).begin() as conn:
            conn.execute(update(clients).values(status="active", closed_at=None))
            conn.execute(update(users).values(status="active", closed_at=None))
    with engine_for(env.settings.crm_urls["us"]).begin() as conn:
        conn.execute(
            update(users)
            .where(users.c.id == uid)
            .values(status="closed", closed_at=datetime(2026, 9, 1, 12, 0))
        )
    record = restrict(env)
    keys = env.resources["ledger"].key_ring()
    account = keys.keyed_hash("account", f"user:us:{uid}")[:24]

    def purge(*extra: str) -> dict:
        args = ["purge", "--only", "closed_users", "--now", "2026-11-25T04:15:00+00:00"]
        done = runner.invoke(app, [*args, *extra, "--json"])
        assert done.exit_code == 0, done.stdout
        (outcome,) = json.loads(done.stdout)["purges"]
        return outcome

    dry = purge("--dry-run")
    assert dry["counts"] == {"us": {"users": {"held: restricted": 1}}} and dry["total"] == 0
    held = purge()
    assert held["counts"] == {"us": {"users": {"held: restricted": 1}}} and held["total"] == 0
    assert [i["status"] for i in held["items"] if i["account_hash"] == account] == [
        "held: restricted"
    ]
    table = runner.invoke(
        app, ["purge", "--only", "closed_users", "--now", "2026-11-25T04:15:00+00:00"]
    )
    assert "held: restricted" in table.stdout
    erasures = [r for r in env.ledger.list_requests() if r.type == RequestType.ERASURE]
    assert erasures == []

    assert lift(record.request_id).exit_code == 0
    queued = purge()
    assert queued["counts"] == {"us": {"users": {"queued": 1}}} and queued["total"] == 1
    (erasure,) = [r for r in env.ledger.list_requests() if r.type == RequestType.ERASURE]
    assert erasure.ticket_ref == f"retention:user:{account}" and erasure.channel == "schedule"


def test_an_older_ledger_is_widened_to_know_lifted(db_url: str, keys: KeyRing) -> None:
    engine = create_engine(db_url)
    ddl = str(CreateTable(requests).compile(dialect=engine.dialect))
    assert ", 'lifted'" in ddl
    with engine.begin() as conn:
        conn.exec_driver_sql(ddl.replace(", 'lifted'", ""))
    engine.dispose()
    ledger = Ledger(db_url, keys)
    ledger.create_schema()
    try:
        record = ledger.register(
            type=RequestType.RESTRICTION,
            scope=Scope.USER_ACCOUNT,
            identities=[Identity("email", DEMO_EMAIL)],
            identity_verified=True,
        )
        assert ledger.claim(record.request_id)
        ledger.transition(record.request_id, State.FULFILLED, result={"action": "restriction"})
        details = {"reason": "settled", "notified_via": "SUP-1", "by": "agent-7"}
        assert ledger.lift(record.request_id, details).state == State.LIFTED
        assert ledger.get(record.request_id).result["lifted"] == details
    finally:
        ledger.close()
