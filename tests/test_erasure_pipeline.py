"""Erasure and rectification through Dagster: gating, proof, clean-up, nothing left behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType, build_sensor_context
from sqlalchemy import select

from dsr.democrm.planted import DEMO_EMAIL, client_id, expected_rows
from dsr.democrm.schema import contacts, notes, users
from dsr.ledger import RequestType, Scope, State
from dsr.proof import verify_proof
from pipelines.launch import run_fulfilment
from resources.engines import engine_for
from tests.dsr_env import DsrEnv, demo_environment

NORTHWIND = str(client_id("Northwind Traders"))
FABRIKAM = str(client_id("Fabrikam GmbH"))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def us_rows(env: DsrEnv, query):  # type: ignore[no-untyped-def]
    with engine_for(env.settings.crm_urls["us"]).connect() as conn:
        return conn.execute(query).mappings().all()


def erase(env: DsrEnv, **kwargs: object) -> str:
    record = env.register(DEMO_EMAIL, type=RequestType.ERASURE, **kwargs)
    result = run_fulfilment(
        env.defs, env.instance, record.request_id, job_name="erasure_fulfilment"
    )
    assert result.success, (result.failed_steps, env.ledger.get(record.request_id).failure_reason)
    return record.request_id


def intake(env: DsrEnv, job: str, op: str, **config: object) -> str:
    result = env.defs.resolve_job_def(job).execute_in_process(
        run_config={"ops": {op: {"config": config}}}, instance=env.instance, raise_on_error=False
    )
    assert result.success
    return env.instance.get_run_by_id(result.run_id).tags["dsr/request_id"]


def test_a_user_account_erasure_waits_for_a_verified_identity(env: DsrEnv) -> None:
    record = env.register(DEMO_EMAIL, type=RequestType.ERASURE)
    result = run_fulfilment(
        env.defs, env.instance, record.request_id, job_name="erasure_fulfilment"
    )
    assert not result.success
    assert env.ledger.get(record.request_id).state == State.RECEIVED  # nothing claimed
    assert [
        u["email"]
        for u in us_rows(
            env, select(users.c.email).where(users.c.id.in_(expected_rows("us")["maria"]["users"]))
        )
    ] == [DEMO_EMAIL]
    sensor = env.defs.resolve_sensor_def("pending_requests")
    with build_sensor_context(
        instance=env.instance, definitions=env.defs, resources={"ledger": env.resources["ledger"]}
    ) as ctx:
        assert sensor(ctx).run_requests == []  # the sensor does not launch it either

    env.ledger.mark_identity_verified(record.request_id, by="agent-7")
    result = run_fulfilment(
        env.defs, env.instance, record.request_id, job_name="erasure_fulfilment"
    )
    assert result.success
    done = env.ledger.get(record.request_id)
    assert done.state == State.FULFILLED
    proof = Path(done.result["proof"])
    pem = env.resources["ledger"].key_ring().public_key_pem()
    report = verify_proof(proof, pem, email="Maria.Jensen@example.org")
    assert report.ok and report.about_person, report.problems
    assert verify_proof(proof, pem, email="tom.becker@example.net").about_person is False
    assert "@" not in proof.read_text()


def test_the_wrong_job_for_a_request_changes_nothing(env: DsrEnv) -> None:
    record = env.register(DEMO_EMAIL, type=RequestType.ERASURE, verified_by="agent-7")
    result = run_fulfilment(env.defs, env.instance, record.request_id)  # the access job
    assert not result.success
    assert env.ledger.get(record.request_id).state == State.RECEIVED


def test_client_data_erasure_deletes_her_rows_and_redacts_mentions(env: DsrEnv) -> None:
    erase(env, scope=Scope.CLIENT_DATA, client_id=NORTHWIND, authorization_ref="NW-DPA-1")
    mine = expected_rows("us")["maria"]
    assert us_rows(env, select(contacts.c.id).where(contacts.c.id.in_(mine["contacts"]))) == []
    tom_note = us_rows(
        env, select(notes.c.body).where(notes.c.id == expected_rows("us")["tom"]["notes"][0])
    )
    assert "Maria Jensen" not in tom_note[0]["body"] and "[redacted]" in tom_note[0]["body"]
    tom = us_rows(
        env, select(contacts).where(contacts.c.id.in_(expected_rows("us")["tom"]["contacts"]))
    )
    assert tom[0]["email"] == "tom.becker@example.net"


def test_after_every_erasure_her_email_is_nowhere_under_dsr_home(env: DsrEnv) -> None:
    access_id = intake(
        env, "register_access_request_job", "register_access_request", email=DEMO_EMAIL
    )
    assert run_fulfilment(env.defs, env.instance, access_id).success
    bundle = Path(env.ledger.get(access_id).result["bundle"])
    assert bundle.exists()
    erasure_id = intake(
        env,
        "register_erasure_request_job",
        "register_erasure_request",
        email=DEMO_EMAIL,
        identity_verified_by="agent-7",
    )
    assert run_fulfilment(env.defs, env.instance, erasure_id, job_name="erasure_fulfilment").success
    for cid, ref in ((NORTHWIND, "NW-DPA-1"), (FABRIKAM, "FAB-DPA-2")):
        erase(env, scope=Scope.CLIENT_DATA, client_id=cid, authorization_ref=ref)

    assert not bundle.exists()  # her earlier export went with the erasure
    needles = [DEMO_EMAIL.encode(), b"4155550142"]
    hits = [
        str(path.relative_to(env.settings.home))
        for path in env.settings.home.rglob("*")
        if path.is_file() and any(n in path.read_bytes().lower() for n in needles)
    ]
    assert hits == []
    jobs = {r.job_name for r in env.instance.get_runs()}
    assert "register_access_request_job" not in jobs  # the intake runs that carried her e-mail
    assert "register_erasure_request_job" not in jobs


def test_erasure_audit_entries_and_proof_link_into_the_chain(env: DsrEnv) -> None:
    rid = erase(env, verified_by="agent-7")
    entries = env.ledger.audit_entries(rid)
    assert "deletion_proof" in [e.event for e in entries]
    proof = json.loads(Path(env.ledger.get(rid).result["proof"]).read_text())
    seq = proof["audit_entry"]["seq"]
    assert any(e.seq == seq and e.entry_hash == proof["audit_entry"]["entry_hash"] for e in entries)
    assert env.ledger.verify_chain().ok


def test_rectification_corrects_every_column_of_the_field(env: DsrEnv) -> None:
    rid = env.register(
        DEMO_EMAIL,
        type=RequestType.RECTIFICATION,
        verified_by="agent-7",
        payload={"changes": {"phone": "+14155550199"}},
    ).request_id
    result = run_fulfilment(env.defs, env.instance, rid, job_name="rectification_fulfilment")
    assert result.success
    her = us_rows(
        env, select(users.c.phone).where(users.c.id.in_(expected_rows("us")["maria"]["users"]))
    )
    assert [u["phone"] for u in her] == ["+14155550199"]
    rectified = [e for e in env.ledger.audit_entries(rid) if e.event == "rectified"]
    assert rectified and "+14155550199" not in json.dumps([e.details for e in rectified])
    checks = env.instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_FAILURE)
    assert checks == []


def test_erasure_is_passed_on_to_the_clients_services(env: DsrEnv) -> None:
    rid = erase(env, scope=Scope.CLIENT_DATA, client_id=NORTHWIND, authorization_ref="NW-DPA-1")
    google, ids = env.services.google, env.services.google_ids
    assert ids.maria_contact not in google.contacts
    assert ids.tom_contact in google.contacts
    assert ids.event_maria_organised not in google.live_events()
    shared = google.attendees(ids.event_maria_attends)
    assert DEMO_EMAIL not in [a.lower() for a in shared] and "tom.becker@example.net" in shared
    assert not any(f in google.files for f in ids.maria_files)
    assert all(f in google.files for f in ids.tom_files)
    g2m = env.services.gotomeeting
    assert not g2m.exists(env.services.gotomeeting_ids["maria_upcoming"])
    assert g2m.exists(env.services.gotomeeting_ids["tom_upcoming"])
    assert env.services.dropbox.paths() and all(
        "maria" not in p.lower() or p.startswith("/Private") or "fabrikam.test" in p
        for p in env.services.dropbox.paths()
    )

    proof = json.loads(Path(env.ledger.get(rid).result["proof"]).read_text())["proof"]
    sections = {(s["system"], s["region"]): s for s in proof["systems"]}
    assert sections[("google", "us")]["status"] == "pending"  # Gmail "other contacts"
    assert sections[("google", "us")]["counts"]["contacts"] == {"deleted": 1}
    assert sections[("google", "us")]["counts"]["events"] == {"deleted": 1, "redacted": 1}
    gotomeeting = sections[("gotomeeting", "us")]
    assert gotomeeting["counts"]["meetings"] == {"deleted": 1}
    assert gotomeeting["pending"] and all(
        p["status"] == "requested_from_processor" for p in gotomeeting["pending"]
    )
    assert sections[("dropbox", "us")]["counts"]["files"] == {"deleted": 3}
    # What the CLI's "erased" table shows: each system under its own name, the CRM's counts not
    # overwritten by a service of the same region.
    actions = env.ledger.get(rid).result["actions_per_system"]
    assert set(actions) == {f"{system}:{region}" for system, region in sections}
    for (system, region), section in sections.items():
        deleted = sum(c.get("deleted", 0) for c in section["counts"].values())
        assert actions[f"{system}:{region}"]["deleted"] == deleted
    assert actions["crm:us"]["deleted"] > 0


def test_a_launchpad_dry_run_changes_nothing_and_needs_a_client_for_client_data(
    env: DsrEnv,
) -> None:
    job = env.defs.resolve_job_def("register_erasure_request_job")
    op = "register_erasure_request"

    def dry_run(**config: object) -> bool:
        cfg = {"email": DEMO_EMAIL, "dry_run": True, **config}
        return job.execute_in_process(
            run_config={"ops": {op: {"config": cfg}}}, instance=env.instance, raise_on_error=False
        ).success

    assert not dry_run(scope="client_data")  # no Client: it would span every tenant
    # A preview lists the Client's rows: it needs the Client's instruction as registration does.
    assert not dry_run(scope="client_data", client=NORTHWIND)
    assert dry_run(scope="client_data", client=NORTHWIND, authorization_ref="NW-DPA-2026-01")
    assert env.ledger.list_requests() == []
    mine = expected_rows("us")["maria"]
    assert len(us_rows(env, select(contacts.c.id).where(contacts.c.id.in_(mine["contacts"])))) == 1
