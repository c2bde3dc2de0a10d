"""The dry run is the whole plan: every region and every integrated service the real erasure
reaches, counted per action, as a table in the run's metadata; nothing registered or changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType

from dsr.democrm.planted import DEMO_EMAIL
from pipelines.partitions import known_request_partitions
from tests.cli_env import NORTHWIND, dsr, dsr_json
from tests.dsr_env import DsrEnv, demo_environment

SYSTEMS = ("crm:us", "crm:eu", "google", "dropbox", "gotomeeting")
NW = ["--scope", "client_data", "--client", NORTHWIND, "--authorization", "NW-DPA-2026-01"]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DsrEnv]:
    with demo_environment(tmp_path / "home") as env:
        yield env


def launchpad_dry_run(env: DsrEnv, **config: object) -> tuple[str, list[str]]:
    """The plan's Markdown table and every log message of the run."""
    result = env.defs.resolve_job_def("register_erasure_request_job").execute_in_process(
        run_config={"ops": {"register_erasure_request": {"config": {**config, "dry_run": True}}}},
        instance=env.instance,
        raise_on_error=False,
    )
    assert result.success
    [output] = env.instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_OUTPUT)
    metadata = output.dagster_event.event_specific_data.metadata  # type: ignore[union-attr]
    messages = [r.user_message for r in env.instance.all_logs(result.run_id)]
    return metadata["plan"].value, messages


def rows(table: str) -> dict[str, dict[str, int]]:
    """system -> 'items action' -> count, from the Markdown table."""
    out: dict[str, dict[str, int]] = {}
    for line in table.splitlines()[2:]:
        system, items, action, count = (c.strip() for c in line.strip("|").split("|"))
        out.setdefault(system, {})[f"{items} {action}"] = int(count)
    return out


def test_the_launchpad_dry_run_shows_every_service_and_changes_nothing(env: DsrEnv) -> None:
    config = {
        "email": DEMO_EMAIL,
        "scope": "client_data",
        "client": "Northwind Traders",  # by name, as support knows it
        "authorization_ref": "NW-DPA-2026-01",
    }
    assert env.services is not None
    dropbox_before = sorted(env.services.dropbox.paths())
    table, messages = launchpad_dry_run(env, **config)
    plan = rows(table)
    assert set(plan) == set(SYSTEMS)
    for service in ("google", "dropbox", "gotomeeting"):
        assert sum(plan[service].values()) > 0, (service, plan[service])
    assert sum(plan["crm:us"].values()) > 0
    assert "@" not in table and not any("@" in m for m in messages if m)
    assert not any("{" in m for m in messages if m)  # a table in metadata, not dicts in logs

    assert env.ledger.list_requests() == []
    assert known_request_partitions(env.instance) == set()
    # The services were only searched: the stand-ins still hold everything of hers the real
    # erasure removes (tests/test_erasure_pipeline.py checks the same items gone after it).
    services = env.services
    assert services is not None
    google, ids = services.google, services.google_ids
    assert ids.maria_contact in google.contacts
    assert ids.event_maria_organised in google.live_events()
    assert DEMO_EMAIL in [a.lower() for a in google.attendees(ids.event_maria_attends)]
    assert all(f in google.files for f in ids.maria_files)
    assert services.gotomeeting.exists(services.gotomeeting_ids["maria_upcoming"])
    assert sorted(services.dropbox.paths()) == dropbox_before
    # So a second look finds the same.
    again, _ = launchpad_dry_run(env, **config)
    assert rows(again) == plan

    # The CLI's plan is the same plan.
    cli = dsr_json("erase", "--email", DEMO_EMAIL, *NW, "--dry-run")
    assert {
        system: {f"{k} {a}": n for k, actions in tables.items() for a, n in actions.items()}
        for system, tables in cli["plan"].items()
    } == {s: {k: n for k, n in plan[s].items() if not k.startswith("– ")} for s in plan}
    assert cli["services"]["gotomeeting"]["status"] == "searched"
    human = dsr("erase", "--email", DEMO_EMAIL, *NW, "--dry-run")
    assert human.code == 0
    for system in SYSTEMS:
        assert system in human.out
    assert env.ledger.list_requests() == []


def test_a_service_no_client_connected_is_in_the_plan_as_not_connected(env: DsrEnv) -> None:
    plan = dsr_json("erase", "--email", "tom.becker@example.net", "--dry-run")
    assert {"google", "dropbox", "gotomeeting"} <= set(plan["services"])
    assert {s["status"] for s in plan["services"].values()} <= {"searched", "not connected"}


def test_the_cli_dry_run_finds_the_clients_rows_by_its_name_as_by_its_id(env: DsrEnv) -> None:
    by_id = dsr_json("erase", "--email", DEMO_EMAIL, *NW, "--dry-run")
    named = [a if a != NW[NW.index("--client") + 1] else "Northwind Traders" for a in NW]
    by_name = dsr_json("erase", "--email", DEMO_EMAIL, *named, "--dry-run")
    # By its name the preview once matched no row and showed an empty plan.
    assert by_name["plan"] == by_id["plan"] and by_name["plan"]["crm:us"]
    assert by_name["services"] == by_id["services"]
    assert env.ledger.list_requests() == []
