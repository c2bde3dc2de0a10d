"""Breach impact: bad input refused, the command line, backups and erasures since the window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from connectors.base import Identity
from dsr.democrm.planted import DEMO_EMAIL, planted_id
from dsr.democrm.schema import contacts
from dsr.erasure.tenant_tombstones import TenantTombstones
from resources.engines import engine_for
from tests.breach_env import (
    FABRIKAM,
    breach,
    dsr,
    insert_contact,
    lite_env,
)
from tests.dsr_env import DsrEnv


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[DsrEnv]:
    yield from lite_env(tmp_path)


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tables", "contacts; DROP TABLE contacts", "--since", "2026-01-01", "--until",
          "2026-02-01"], "valid tables: activities"),
        (["--tables", "Contacts", "--since", "2026-01-01", "--until", "2026-02-01"],
         "not a table of the data map"),
        (["--tables", " , ", "--since", "2026-01-01", "--until", "2026-02-01"], "no tables given"),
        (["--tables", DEMO_EMAIL, "--since", "2026-01-01", "--until", "2026-02-01"],
         "not a name"),
        (["--tables", "contacts", "--since", "2026-13-01", "--until", "2026-02-01"],
         "not a valid date"),
        (["--tables", "contacts", "--since", "last tuesday", "--until", "2026-02-01"],
         "not an ISO date"),
        (["--tables", "contacts", "--since", "2026-03-01", "--until", "2026-02-01"],
         "must come before"),
        (["--tables", "contacts", "--since", "2026-01-01", "--until", "2026-02-01", "--regions",
          "mars"], "not a configured region"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_a_reason_and_changes_nothing(
    lite: DsrEnv, args: list[str], message: str
) -> None:
    entries = len(lite.ledger.audit_entries())
    code, out, err = dsr(*args)
    assert code == 2
    assert message in err
    assert DEMO_EMAIL not in err
    code, out, _ = dsr(*args, "--json")
    assert code == 2 and json.loads(out)["ok"] is False
    assert len(lite.ledger.audit_entries()) == entries
    for folder in lite.settings.export_dirs.values():
        assert not (folder / "breach").exists()
    with engine_for(lite.settings.crm_urls["us"]).connect() as conn:
        assert conn.execute(select(func.count()).select_from(contacts)).scalar_one() > 300


def test_the_job_refuses_bad_input_with_the_valid_tables(lite: DsrEnv) -> None:
    job = lite.defs.resolve_job_def("breach_impact_job")
    config = {"tables": ["contacts' OR 1=1 --"], "since": "2026-01-01", "until": "2026-02-05"}
    result = job.execute_in_process(
        run_config={"ops": {"breach_impact": {"config": config}}},
        instance=lite.instance,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "valid tables: activities" in str(failure.event_specific_data.error)  # type: ignore[union-attr]
    assert not any((d / "breach").exists() for d in lite.settings.export_dirs.values())


# -- the command line, backups --------------------------------------------------------------------


def test_cli_prints_counts_per_client_and_the_report_never_the_people(lite: DsrEnv) -> None:
    code, out, _ = dsr("--tables", "contacts", "--tables", "notes", "--since", "2026-01-01",
                       "--until", "2026-02-05")  # fmt: skip
    assert code == 0, out
    assert "Northwind Traders" in out and "Fabrikam GmbH" in out and "report:" in out
    assert DEMO_EMAIL not in out and "Jensen" not in out
    code, out, _ = dsr("--tables", "contacts,notes", "--since", "2026-01-01", "--until",
                       "2026-02-05", "--json", "--out", str(lite.settings.home / "r"))  # fmt: skip
    payload = json.loads(out)
    assert code == 0 and payload["ok"] is True
    assert payload["report_path"] == str(lite.settings.home / "r" / "report.json")
    assert {"region": "eu", "client_id": FABRIKAM} in [
        {k: c[k] for k in ("region", "client_id")} for c in payload["per_client"]
    ]
    assert "@" not in out
    code, out, err = dsr("--tables", "contacts", "--since", "2026-01-01", "--until",
                         "2026-02-05", "--out", str(lite.settings.home / "r"))  # fmt: skip
    assert code == 2 and "already holds a breach report" in err


def test_a_backup_in_the_window_shows_rows_deleted_since(lite: DsrEnv) -> None:
    # A backup holds only rows recorded before it was taken, so it is taken now, as the
    # schedule would, and the window is placed around it.
    now = datetime.now(UTC).replace(microsecond=0)
    insert_contact(lite, 51, email="gone@example.net", created_at=now.replace(tzinfo=None))
    record = (
        lite.resources["backups"]
        .store()
        .snapshot("us", lite.settings.crm_urls["us"], lite.crm.datamap())
    )
    with engine_for(lite.settings.crm_urls["us"]).begin() as conn:
        conn.execute(delete(contacts).where(contacts.c.id == planted_id("us", 51)))
    day = timedelta(days=1)
    impact, files = breach(lite, "contacts", (now - day).isoformat(), (now + day).isoformat())
    (gap,) = impact.backups
    assert (gap.backup_id, gap.missing_rows) == (record.backup_id, {"contacts": 1})
    report = files.json_path.read_text()
    assert "gone@example.net" not in report  # not restored: a deleted row stays beyond use
    assert record.backup_id in report and "dsr restore-backup" in report
    before, _ = breach(lite, "contacts", (now - 3 * day).isoformat(), (now - 2 * day).isoformat())
    assert before.backups == []


@pytest.mark.parametrize(
    ("column", "message"),
    [("nope", "column 'nope' (recorded_at) is not in the database"),
     ("email", "is VARCHAR(254), not a date or timestamp")],
)  # fmt: skip
def test_a_recorded_at_column_that_does_not_fit_is_refused(
    lite: DsrEnv, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, column: str, message: str
) -> None:
    text = lite.settings.datamap_path.read_text()
    anchor = "  contacts:\n    description: The Client's customers and prospects\n"
    assert anchor in text
    start, end = text.index(anchor), text.index("\n  deals:\n")
    block = text[start:end].replace("recorded_at: created_at", f"recorded_at: {column}")
    path = tmp_path / "map.yaml"
    path.write_text(text[:start] + block + text[end:])
    monkeypatch.setenv("DSR_DATAMAP", str(path))
    code, _, err = dsr("--tables", "contacts", "--since", "2026-01-01", "--until", "2026-02-01")
    assert code == 2 and message in err
    assert not any((d / "breach").exists() for d in lite.settings.export_dirs.values())


def test_erasures_since_the_window_began_are_counted_not_listed(lite: DsrEnv) -> None:
    stones = lite.resources["backups"].tombstones()
    stones.record(
        "r-20260120-0badcafe",
        {Identity("email", "erased.person@example.net")},
        "user_account",
        None,
        datetime(2026, 1, 20, tzinfo=UTC),
    )
    impact, files = breach(lite, "contacts", "2026-01-01", "2026-02-05")
    assert impact.erasures_since == 1
    assert impact.counts()["erasures_since"] == 1
    report = files.json_path.read_text()
    assert "1 erasure(s) ran since the window began" in report
    assert "erased.person" not in report
    later, _ = breach(lite, "contacts", "2026-01-21", "2026-02-05")
    assert later.erasures_since == 0


def test_closed_clients_purged_since_the_window_began_are_named_for_notice(lite: DsrEnv) -> None:
    # A closed Client's purge leaves nothing to attribute, but the Client was the controller of
    # what was exposed: the report must still send the operator to it.
    stones = lite.resources["backups"].tombstones()
    purged = TenantTombstones(stones.engine)
    purged.record("r-20260125-00c1053d", "us", "4242", datetime(2026, 1, 25, 4, 15, tzinfo=UTC))
    purged.record("r-20251201-00c1053d", "us", "4343", datetime(2025, 12, 1, 4, 15, tzinfo=UTC))
    impact, files = breach(lite, "contacts", "2026-01-01", "2026-02-05")
    expected = [{"region": "us", "client_id": "4242", "request_id": "r-20260125-00c1053d"}]
    assert impact.counts()["purged_clients_since"] == expected
    report = files.json_path.read_text()
    assert "Closed Client 4242 (us) had its data purged since the window began" in report
    assert "4343" not in report  # purged before the window: its data was not there to expose
    later, _ = breach(lite, "contacts", "2026-01-26", "2026-02-05")
    assert later.purged_clients == []
