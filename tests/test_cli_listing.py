"""`dsr requests` and `dsr backups`: the backlog and the backups at a glance, never a person;
and every command that only reads answers without importing Dagster or the service SDKs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine

from dsr.democrm.planted import DEMO_EMAIL
from tests.cli_env import Prepared, changes, dsr, dsr_json, fingerprint, prepared_home
from tests.clock import FROZEN_NOW

PEOPLE = (DEMO_EMAIL, "tom.becker@example.net", "priya.raman@northwind.test")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prepared]:
    with prepared_home(tmp_path_factory.mktemp("listing") / "home") as prepared:
        yield prepared


def _ids(payload: dict) -> list[str]:
    return [r["request_id"] for r in payload["requests"]]


def test_requests_lists_every_request_by_id_kind_and_state_and_filters(
    prepared: Prepared,
) -> None:
    everything = dsr_json("requests")
    assert set(_ids(everything)) == {
        prepared.access_id,
        prepared.erasure_id,
        prepared.restriction_id,
    }
    kinds = {r["request_id"]: (r["type"], r["state"]) for r in everything["requests"]}
    assert kinds[prepared.erasure_id] == ("erasure", "fulfilled")
    assert kinds[prepared.access_id] == ("access", "fulfilled")
    assert _ids(dsr_json("requests", "--type", "erasure")) == [prepared.erasure_id]
    assert _ids(dsr_json("requests", "--type", "access", "--type", "restriction")) == sorted(
        [prepared.access_id, prepared.restriction_id],
        key=[r["request_id"] for r in everything["requests"]].index,
    )
    assert _ids(dsr_json("requests", "--state", "received")) == []
    assert len(_ids(dsr_json("requests", "--limit", "2"))) == 2
    assert dsr_json("requests", "--limit", "2")["more"] is True


def test_due_within_counts_from_now_and_marks_what_is_overdue(prepared: Prepared) -> None:
    queued = dsr_json("access", "--email", DEMO_EMAIL, "--queue")["request_id"]
    assert dsr_json("requests", "--due-within", "3")["requests"] == []
    with time_machine.travel(FROZEN_NOW + timedelta(days=45), tick=False):
        late = dsr_json("requests", "--due-within", "0")
    overdue = {r["request_id"]: r["overdue"] for r in late["requests"]}
    # Every request was due a month after it came in; only the open one is late.
    assert overdue[queued] is True
    assert overdue[prepared.erasure_id] is False
    table = dsr("requests", "--state", "received")
    assert table.code == 0 and queued in table.out and prepared.access_id not in table.out


def test_listings_never_show_a_person_and_change_nothing(prepared: Prepared) -> None:
    before = fingerprint(prepared.home)
    outputs = [dsr(*args) for args in (["requests"], ["requests", "--json"], ["backups"])]
    assert changes(before, fingerprint(prepared.home)) == []
    for outcome in outputs:
        assert outcome.code == 0, outcome
        for person in PEOPLE:
            assert person not in outcome.out
            assert person.split("@")[0] not in outcome.out


def test_backups_lists_each_snapshot_with_its_expiry(prepared: Prepared) -> None:
    listed = dsr_json("backups")["backups"]
    assert prepared.backup_id in [b["backup_id"] for b in listed]
    assert {b["region"] for b in listed} == set(prepared.env.settings.regions)
    assert all(b["index_entries"] > 0 and b["bytes"] > 0 for b in listed)
    assert all(b["expired"] is False for b in listed)
    only_us = dsr_json("backups", "--region", "us")["backups"]
    assert only_us and {b["region"] for b in only_us} == {"us"}
    with time_machine.travel(FROZEN_NOW + timedelta(days=31), tick=False):
        later = dsr_json("backups")["backups"]
    assert all(b["expired"] for b in later)
    assert prepared.backup_id in dsr("backups").out


# Runs the command in a fresh interpreter and reports which heavy packages it imported.
_PROBE = """
import json, sys
from dsr.cli.main import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
heavy = {"dagster", "dagster_graphql", "googleapiclient", "dropbox", "pandas", "werkzeug"}
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["public-key"],
        ["deadlines"],
        ["requests"],
        ["backups"],
        ["status", "{erasure}"],
        ["verify-proof", "{proof}"],
        ["verify-bundle", "{bundle}"],
        ["verify-ledger"],
    ],
    ids=lambda c: c[0],
)
def test_commands_that_only_read_do_not_start_dagster(
    prepared: Prepared, command: list[str]
) -> None:
    names = {
        "{erasure}": prepared.erasure_id,
        "{proof}": str(prepared.proof),
        "{bundle}": str(prepared.bundle),
    }
    args = [names.get(a, a) for a in command]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip(), done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == [], done.stderr
