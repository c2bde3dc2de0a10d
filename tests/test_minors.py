"""Minors (policy 10): the daily check registers erasures that the normal path carries out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from dagster import AssetKey, build_schedule_context, build_sensor_context
from sqlalchemy import insert, select, update

from connectors.crm.minors import find_minors, is_minor
from dsr.democrm.planted import client_id, expected_rows
from dsr.democrm.schema import users
from dsr.ledger import RequestType, Scope, State
from dsr.proof import verify_proof
from resources.engines import engine_for
from tests.dsr_env import DsrEnv, demo_environment_on
from tests.run_env import execute_launch

CHECK_DAY = date(2026, 12, 1)
AT_4AM = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
NORTHWIND = client_id("Northwind Traders")
LENA = "lena.vogt@fabrikam.test"
# e-mail -> (date of birth, parental consent, processing restricted)
CAST = {
    "kid.daybefore@northwind.test": (date(2008, 12, 2), None, None),  # 18 tomorrow
    "adult.birthday@northwind.test": (date(2008, 12, 1), None, None),  # 18 today
    "minor.consented@northwind.test": (date(2010, 5, 5), True, None),
    "kid.held@northwind.test": (date(2011, 1, 1), False, True),  # restricted: legal claim
    "leap.kid@northwind.test": (date(2008, 2, 29), False, None),
}


# -- age arithmetic -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "on", "minor"),
    [
        (date(2008, 12, 2), date(2026, 12, 1), True),  # the day before the 18th birthday
        (date(2008, 12, 1), date(2026, 12, 1), False),  # on the 18th birthday
        (date(2008, 2, 29), date(2026, 2, 27), True),
        (date(2008, 2, 29), date(2026, 2, 28), False),  # no 29th: of age on the 28th
        (date(2008, 2, 29), date(2026, 3, 1), False),
        (date(2012, 2, 29), date(2030, 2, 28), False),
        (date(2010, 2, 28), date(2028, 2, 27), True),  # a leap year at the 18th: nothing moves
        (date(2010, 2, 28), date(2028, 2, 28), False),
    ],
)
def test_age_is_counted_in_calendar_years(born: date, on: date, minor: bool) -> None:
    assert is_minor(born, on) is minor


# -- the scheduled check --------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment_on(request, tmp_path / "home") as env:
        with engine_for(env.settings.crm_urls["us"]).begin() as conn:
            for email, (born, consent, restricted) in CAST.items():
                conn.execute(
                    insert(users).values(
                        client_id=NORTHWIND,
                        email=email,
                        full_name="Test Person",
                        role="viewer",
                        status="active",
                        date_of_birth=born,
                        parental_consent=consent,
                        processing_restricted=restricted,
                        created_at=datetime(2026, 9, 1, 8, 0),
                    )
                )
        yield env


def user(env: DsrEnv, region: str, email: str) -> dict | None:
    with engine_for(env.settings.crm_urls[region]).connect() as conn:
        row = conn.execute(select(users).where(users.c.email == email)).mappings().first()
    return dict(row) if row else None


def run_check(env: DsrEnv, when: datetime = AT_4AM) -> dict:
    schedule = env.defs.resolve_schedule_def("minors_daily")
    with build_schedule_context(instance=env.instance, scheduled_execution_time=when) as ctx:
        (run_request,) = schedule.evaluate_tick(ctx).run_requests  # type: ignore[misc]
    assert run_request.run_key == f"minors-{when.date().isoformat()}"
    result = env.defs.resolve_job_def("minors_check_job").execute_in_process(
        run_config=run_request.run_config, instance=env.instance, tags=run_request.tags
    )
    assert result.success
    event = env.instance.get_latest_materialization_event(AssetKey("minors_check"))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}  # type: ignore[union-attr]


def test_minors_without_consent_are_erased_with_a_proof_and_nobody_else(env: DsrEnv) -> None:
    report = run_check(env)
    assert report["check_date"] == "2026-12-01"
    assert report["registered"] == 2
    us, eu = report["crm:us"], report["crm:eu"]
    assert us["minors_without_consent"] == 2 and us["registered"] == 1
    assert us["held_by_restriction"] == 1 and us["minors_with_consent"] >= 1
    assert eu["registered"] == 1
    assert "@" not in json.dumps(report)  # counts and request ids only

    requests = env.ledger.list_requests()
    assert sorted(report["request_ids"]) == sorted(r.request_id for r in requests)
    for record in requests:
        assert record.type == RequestType.ERASURE and record.scope == Scope.USER_ACCOUNT
        assert record.channel == "schedule" and record.identity_verified
        found = [e for e in env.ledger.audit_entries(record.request_id) if e.event == "minor_found"]
        assert found and found[0].details["check_date"] == "2026-12-01"

    # The same day checked again registers nobody twice.
    assert run_check(env)["registered"] == 0

    sensor = env.defs.resolve_sensor_def("pending_requests")
    with build_sensor_context(
        instance=env.instance, definitions=env.defs, resources={"ledger": env.resources["ledger"]}
    ) as ctx:
        launches = sensor(ctx).run_requests
    # Several erasures at once: one batch run (one per request when only one waits).
    [launch] = launches
    assert launch.job_name == "erasure_batch"
    assert sorted(launch.tags["dsr/batch_requests"].split(",")) == sorted(report["request_ids"])
    assert execute_launch(env.defs, env.instance, launch)

    pem = env.resources["ledger"].key_ring().public_key_pem()
    proofs = {}
    for record in env.ledger.list_requests():
        assert record.state == State.FULFILLED
        proofs[record.request_id] = Path(record.result["proof"])
    assert all(verify_proof(p, pem).ok for p in proofs.values())
    for email in ("kid.daybefore@northwind.test", LENA):
        # Each minor has exactly one signed proof about them.
        assert sum(verify_proof(p, pem, email=email).ok for p in proofs.values()) == 1, email

    assert user(env, "us", "kid.daybefore@northwind.test") is None  # anonymised: no e-mail left
    assert user(env, "eu", LENA) is None
    for email in ("adult.birthday@northwind.test", "minor.consented@northwind.test"):
        assert user(env, "us", email) is not None, email
    held = user(env, "us", "kid.held@northwind.test")
    assert held is not None and held["date_of_birth"] == date(2011, 1, 1)
    # Tomorrow the erased minors are gone from the check; the held one is still reported.
    tomorrow = run_check(env, datetime(2026, 12, 2, 4, 0, tzinfo=UTC))
    assert tomorrow["registered"] == 0
    assert tomorrow["crm:us"]["held_by_restriction"] == 1
    assert tomorrow["crm:eu"]["minors_without_consent"] == 0


def test_a_leap_day_birth_comes_of_age_on_the_28th(env: DsrEnv) -> None:
    us = env.crm.connector("us")

    def flagged(on: date) -> int:
        return sum(m.email == "leap.kid@northwind.test" for m in find_minors(us, on).minors)

    assert flagged(date(2026, 2, 27)) == 1
    assert flagged(date(2026, 2, 28)) == 0
    assert flagged(date(2026, 3, 1)) == 0


def test_a_malformed_check_date_changes_nothing(env: DsrEnv) -> None:
    result = env.defs.resolve_job_def("minors_check_job").execute_in_process(
        run_config={"ops": {"minors_check": {"config": {"check_date": "1st of December"}}}},
        instance=env.instance,
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "YYYY-MM-DD" in failure.message  # type: ignore[union-attr]
    assert env.ledger.list_requests() == []


def test_a_minor_without_a_usable_email_fails_the_check_visibly(env: DsrEnv) -> None:
    with engine_for(env.settings.crm_urls["us"]).begin() as conn:
        conn.execute(
            update(users).where(users.c.email == "kid.daybefore@northwind.test").values(email=None)
        )
    result = env.defs.resolve_job_def("minors_check_job").execute_in_process(
        run_config={"ops": {"minors_check": {"config": {"check_date": "2026-12-01"}}}},
        instance=env.instance,
        raise_on_error=False,
    )
    assert not result.success
    # The others were still registered; the unnamed one is reported, not silently skipped.
    assert len(env.ledger.list_requests()) == 1
    checked = [e for e in env.ledger.audit_entries(None) if e.event == "minors_checked"]
    assert checked[-1].details["per_region"]["crm:us"]["without_email"] == 1


def test_the_planted_minor_is_named_only_by_row_in_the_ledger(env: DsrEnv) -> None:
    run_check(env)
    lena_row = str(expected_rows("eu")["minor"]["users"][0])
    found = [
        e.details
        for r in env.ledger.list_requests()
        for e in env.ledger.audit_entries(r.request_id)
        if e.event == "minor_found" and e.details["region"] == "eu"
    ]
    assert found == [
        {
            "check_date": "2026-12-01",
            "reason": "under the age of majority without recorded parental consent",
            "region": "eu",
            "row_id": lena_row,
            "table": "users",
        }
    ]
