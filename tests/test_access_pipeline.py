"""The access request through Dagster: intake, sensor, fulfilment run, bundle, ledger, storage."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType, RunRequest, build_sensor_context

from dsr.bundle import verify_bundle
from dsr.democrm.planted import DEMO_EMAIL, client_id, expected_rows
from dsr.ledger import Scope, State
from pipelines.launch import run_fulfilment
from pipelines.partitions import known_request_partitions, partitions_name
from resources.engines import engine_for
from tests.dsr_env import DsrEnv, demo_environment
from tests.run_env import hold_as_live_run, step_failure_text

PHONE_DIGITS = "4155550142"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def files_containing(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes().lower():
            hits.append(str(path.relative_to(root)))
    return hits


def test_access_run_builds_a_verified_bundle_of_her_account(env: DsrEnv) -> None:
    record = env.register("Maria.Jensen@Example.org")
    result = run_fulfilment(env.defs, env.instance, record.request_id)
    assert result.success, result.failed_steps

    done = env.ledger.get(record.request_id)
    assert done.state == State.FULFILLED
    bundle = Path(done.result["bundle"])
    assert bundle.parent == env.settings.export_dirs["us"]  # her data is in the us region only
    report = verify_bundle(bundle, env.resources["ledger"].key_ring().public_key_pem())
    assert report.ok, report.problems

    with zipfile.ZipFile(bundle) as zf:
        users = json.loads(zf.read("data/crm/us/users.json"))
        assert [u["email"] for u in users] == [DEMO_EMAIL]
        manifest = zf.read("manifest.json")
        assert b"@" not in manifest
        invoices = json.loads(zf.read("data/crm/us/invoices.json"))
        assert sorted(i["id"] for i in invoices) == expected_rows("us")["maria"]["invoices"]
        assert "summary.html" in zf.namelist()
    assert done.result["rows_per_system"]["crm:us"] >= 10


def test_the_run_shows_lineage_counts_and_a_passing_check(env: DsrEnv) -> None:
    record = env.register(DEMO_EMAIL)
    result = run_fulfilment(env.defs, env.instance, record.request_id)
    assert result.success
    mats = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
        for e in (
            r.dagster_event
            for r in env.instance.all_logs(
                result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
            )
        )
        if e is not None
    }
    assert set(mats) == {
        "access_subject_identities",
        "crm_us_findings",
        "crm_eu_findings",
        "google_findings",
        "dropbox_findings",
        "gotomeeting_findings",
        "access_bundle",
    }
    # Contoso, where she is a User, connected no service: said so, not silently skipped.
    assert mats["google_findings"]["status"].value == "not connected"
    assert mats["crm_us_findings"]["rows_per_table"].data["users"] == 1
    assert mats["crm_eu_findings"]["rows"].value == 0
    assert mats["access_subject_identities"]["identities_resolved"].data["cookie_id"] >= 1
    checks = env.instance.all_logs(result.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    assert [c.dagster_event.event_specific_data.passed for c in checks] == [True]


def test_no_identity_reaches_dagster_storage_staging_or_ledger(env: DsrEnv) -> None:
    record = env.register(DEMO_EMAIL, phones=["+1 415 555 0142"], names=["Maria Jensen"])
    assert run_fulfilment(env.defs, env.instance, record.request_id).success
    home = env.settings.home
    for needle in (DEMO_EMAIL.encode(), PHONE_DIGITS.encode(), b"maria jensen", b"jensen"):
        assert files_containing(env.settings.dagster_home, needle) == [], needle
        assert files_containing(env.settings.staging_dir, needle) == [], needle
    ledger_files = [p for p in home.iterdir() if p.name.startswith("ledger.sqlite")]
    for path in ledger_files:
        assert DEMO_EMAIL.encode() not in path.read_bytes().lower()
    assert not (env.settings.staging_dir / record.request_id).exists()
    assert env.instance.has_dynamic_partition(partitions_name("access"), record.request_id)
    assert "@" not in record.request_id


def test_client_data_request_keeps_to_the_tenant_and_stores_eu_data_in_the_eu(
    env: DsrEnv,
) -> None:
    fabrikam = str(client_id("Fabrikam GmbH"))
    record = env.register(
        DEMO_EMAIL, scope=Scope.CLIENT_DATA, client_id=fabrikam, authorization_ref="FAB-DPA-7"
    )
    assert run_fulfilment(env.defs, env.instance, record.request_id).success
    done = env.ledger.get(record.request_id)
    # Her Fabrikam contact, and the three files plus her folder Fabrikam's Dropbox sync holds.
    assert done.result["rows_per_system"] == {"crm:eu": 1, "crm:us": 0, "dropbox:eu": 4}
    with zipfile.ZipFile(done.result["bundle"]) as zf:
        synced = [n for n in zf.namelist() if n.startswith("files/dropbox/eu/files/")]
        assert len(synced) == 3
        assert any(zf.read(n).startswith(b"%PDF") for n in synced)
        assert "not connected" in zf.read("summary.html").decode()
    assert done.result["store"] == "eu"
    assert Path(done.result["bundle"]).parent == env.settings.export_dirs["eu"]


def test_a_region_that_cannot_be_searched_fails_the_request_visibly(env: DsrEnv) -> None:
    record = env.register(DEMO_EMAIL)
    eu = Path(env.settings.crm_urls["eu"].removeprefix("sqlite:///"))
    eu.unlink()
    engine_for(env.settings.crm_urls["eu"]).dispose()  # as a restarted worker would see it
    result = run_fulfilment(env.defs, env.instance, record.request_id)
    assert not result.success
    failed = env.ledger.get(record.request_id)
    assert failed.state == State.FAILED
    assert "eu" in failed.failure_reason
    assert list(env.settings.export_dirs["us"].glob("*.zip")) == []


def test_a_second_run_for_a_request_in_progress_changes_nothing(env: DsrEnv) -> None:
    record = env.register(DEMO_EMAIL)
    holder = hold_as_live_run(env.ledger, env.instance, record.request_id)  # another run
    result = run_fulfilment(env.defs, env.instance, record.request_id)
    assert not result.success
    assert env.ledger.get(record.request_id).state == State.IN_PROGRESS  # not failed
    assert holder in step_failure_text(env.instance, result.run_id)
    assert list(env.settings.export_dirs["us"].glob("*.zip")) == []


def intake(env: DsrEnv, **config: object):  # type: ignore[no-untyped-def]
    job = env.defs.resolve_job_def("register_access_request_job")
    return job.execute_in_process(
        run_config={"ops": {"register_access_request": {"config": config}}},
        instance=env.instance,
        raise_on_error=False,
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"email": "not-an-address"}, "e-mail is not a valid address"),
        ({"email": "x'; DROP TABLE contacts;--@example.org"}, "e-mail is not a valid address"),
        ({"email": " "}, "at least one e-mail"),
        ({"email": DEMO_EMAIL, "scope": "client_data", "client": "1900000001"}, "authorisation"),
        (
            {
                "email": DEMO_EMAIL,
                "scope": "client_data",
                "client": "42",
                "authorization_ref": "DPA-1",
            },
            "unknown client",
        ),
        ({"email": DEMO_EMAIL, "ticket_ref": "maria.jensen@example.org"}, "never personal data"),
    ],
)
def test_launchpad_intake_refuses_bad_input_and_registers_nothing(
    env: DsrEnv, config: dict, message: str
) -> None:
    result = intake(env, **config)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    assert message in failure.event_specific_data.error.message
    assert env.ledger.list_requests() == []
    assert known_request_partitions(env.instance) == set()


def test_launchpad_intake_registers_and_the_sensor_launches_once(env: DsrEnv) -> None:
    result = intake(env, email=DEMO_EMAIL, ticket_ref="SUP-1234")
    assert result.success
    [record] = env.ledger.list_requests()
    assert record.state == State.RECEIVED and record.channel == "launchpad"
    assert env.instance.get_run_by_id(result.run_id).tags["dsr/request_id"] == record.request_id

    sensor = env.defs.resolve_sensor_def("pending_requests")
    with build_sensor_context(
        instance=env.instance, definitions=env.defs, resources={"ledger": env.resources["ledger"]}
    ) as context:
        evaluation = sensor(context)
    assert [r.partition_key for r in evaluation.run_requests] == [record.request_id]
    assert isinstance(evaluation.run_requests[0], RunRequest)
    assert evaluation.run_requests[0].run_key == record.request_id

    assert run_fulfilment(env.defs, env.instance, record.request_id).success
    with build_sensor_context(
        instance=env.instance, definitions=env.defs, resources={"ledger": env.resources["ledger"]}
    ) as context:
        assert sensor(context).run_requests == []
