"""Breach impact: the right people per Client and for iNextCRM, the window, the report, no leaks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from connectors.base import Identity
from connectors.breach import BreachImpact, ClientImpact
from connectors.breach_identities import IdentityCache
from connectors.breach_run import AUDIT_EVENT, run_breach_impact
from connectors.breach_window import parse_query
from connectors.breach_writer import ReportFiles
from connectors.identities import harvest_identity, match_values
from connectors.tenant_tombstones import TenantTombstones
from dsr.cli.main import app
from dsr.democrm.planted import DEMO_EMAIL, client_id, planted_id
from dsr.democrm.schema import contacts
from resources.engines import engine_for
from tests.dsr_env import DsrEnv, environment, make_env

NORTHWIND = str(client_id("Northwind Traders"))
CONTOSO = str(client_id("Contoso Analytics"))
FABRIKAM = str(client_id("Fabrikam GmbH"))
MARIA_PHONE = "+14155550142"
NAMESAKE, JONAS, TOM = "m.jensen@fabrikam.test", "jonas.weber@example.net", "tom.becker@example.net"
runner = CliRunner()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DsrEnv]:
    home, overrides, databases = tmp_path / "home", {}, []
    server = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    if server is not None:
        for region in ("us", "eu"):
            databases.append(server.create_database())
            overrides[f"DSR_CRM_URL_{region.upper()}"] = server.url(databases[-1])
    try:
        with environment(home, **overrides):
            env = make_env(home)
            yield env
            for url in env.settings.crm_urls.values():
                engine_for(url).dispose()
    finally:
        for name in databases:
            server.drop_database(name)  # type: ignore[union-attr]


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[DsrEnv]:
    with environment(tmp_path / "home"):
        yield make_env(tmp_path / "home")


def breach(
    env: DsrEnv, tables: str, since: str, until: str, regions: str | None = None
) -> tuple[BreachImpact, ReportFiles]:
    res = env.resources
    query = parse_query(
        env.crm.datamap(), env.settings.regions, tables=tables, since=since, until=until,
        regions=regions,
    )  # fmt: skip
    return run_breach_impact(
        env.crm.connectors(),
        query,
        ledger=env.ledger,
        store_dir_for=lambda found: res["exports"].dir_for(found)[1],
        backups=res["backups"].store(),
        tombstones=res["backups"].tombstones(),
        now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
    )


def client(impact: BreachImpact, tenant: str) -> ClientImpact:
    (found,) = [c for c in impact.clients if c.client_id == tenant]
    return found


Person = dict[str, Any]


def people(files: ReportFiles, tenant: str | None = None) -> list[Person]:
    """The people the report lists for a Client (or, without one, iNextCRM's own)."""
    doc = json.loads(files.json_path.read_text())
    if tenant is None:
        return doc["inextcrm"]["people"]
    (found,) = [c for c in doc["clients"] if c["client_id"] == tenant]
    assert found["people_count"] == len(found["people"])
    return found["people"]


def with_email(found: list[Person], email: str) -> list[Person]:
    return [p for p in found if email in p["emails"]]


def insert_contact(env: DsrEnv, n: int, **values: object) -> None:
    row = {
        "id": planted_id("us", n), "client_id": int(NORTHWIND), "last_name": "Jensen",
        "first_name": "Maria", **values,
    }  # fmt: skip
    with engine_for(env.settings.crm_urls["us"]).begin() as conn:
        conn.execute(contacts.insert().values(**row))


# -- who is affected ---------------------------------------------------------------------------


def test_each_client_gets_its_own_people_and_no_one_elses(env: DsrEnv) -> None:
    impact, files = breach(env, "contacts,notes", "2026-01-01", "2026-02-05")
    northwind = client(impact, NORTHWIND)
    assert (northwind.region, northwind.name) == ("us", "Northwind Traders")
    assert northwind.contact == "accounts@northwind.test"  # where the Client's notice goes
    (maria,) = with_email(people(files, NORTHWIND), DEMO_EMAIL)
    assert maria["phones"] == [MARIA_PHONE]
    assert maria["names"] == ["maria jensen"]
    assert maria["rows"] == {"us:contacts": 1, "us:notes": 1}
    (tom,) = with_email(people(files, NORTHWIND), TOM)
    assert tom["rows"] == {"us:contacts": 1}
    fabrikam = client(impact, FABRIKAM)
    assert (fabrikam.region, fabrikam.name) == ("eu", "Fabrikam GmbH")
    (maria_eu,) = with_email(people(files, FABRIKAM), DEMO_EMAIL)
    (namesake,) = with_email(people(files, FABRIKAM), NAMESAKE)
    assert maria_eu != namesake  # one name, two people
    assert NAMESAKE not in maria_eu["emails"] and DEMO_EMAIL not in namesake["emails"]
    assert with_email(people(files, FABRIKAM), JONAS)
    assert not with_email(people(files, FABRIKAM), TOM)
    for other in (NAMESAKE, JONAS):
        assert not with_email(people(files, NORTHWIND), other)
    # Maria is a User of Contoso, not one of its contacts: Contoso has nobody to notify here.
    assert CONTOSO not in {c.client_id for c in impact.clients}
    assert people(files) == [] and impact.inextcrm_people == 0
    counts = impact.counts()
    assert counts["people"] == sum(c.people_count for c in impact.clients)
    assert {"region": "us", "client_id": NORTHWIND, "people": len(people(files, NORTHWIND)),
            "rows": sum(northwind.rows.values())} in counts["per_client"]  # fmt: skip
    assert impact.untimed_tables == []


def test_a_row_recorded_after_the_window_is_left_out(env: DsrEnv) -> None:
    # Tom's note (which also writes Maria's phone) was recorded 2026-02-06 16:20 UTC.
    before, early = breach(env, "notes", "2026-02-01", "2026-02-06T17:20+01:00")
    after, late = breach(env, "notes", "2026-02-01", "2026-02-06T17:21+01:00")
    assert not with_email(people(early, NORTHWIND), TOM)
    (maria_before,) = with_email(people(early, NORTHWIND), DEMO_EMAIL)
    assert (maria_before["rows"], maria_before["mentions"]) == ({"us:notes": 1}, {})
    (tom,) = with_email(people(late, NORTHWIND), TOM)
    assert tom["rows"] == {"us:notes": 1}
    (maria,) = with_email(people(late, NORTHWIND), DEMO_EMAIL)
    assert maria["mentions"] == {"us:notes": 1}  # her phone, written in Tom's note
    assert after.rows["us"]["notes"] == before.rows["us"]["notes"] + 1


def test_a_person_with_two_emails_counts_once(env: DsrEnv) -> None:
    first, _ = breach(env, "contacts,notes", "2026-01-01", "2026-02-05")
    insert_contact(env, 50, email="mj@jensen-family.test", mobile="(415) 555-0142",
                   created_at=datetime(2026, 1, 20, 9, 0))  # fmt: skip
    second, files = breach(env, "contacts,notes", "2026-01-01", "2026-02-05")
    (maria,) = with_email(people(files, NORTHWIND), DEMO_EMAIL)
    assert maria["emails"] == [DEMO_EMAIL, "mj@jensen-family.test"]
    assert maria["rows"] == {"us:contacts": 2, "us:notes": 1}
    assert client(second, NORTHWIND).people_count == client(first, NORTHWIND).people_count
    assert second.people_total == first.people_total


def test_a_table_without_a_time_column_counts_all_its_rows(env: DsrEnv) -> None:
    # attachments -> emails -> contacts: the quote attached to Priya's e-mail is Maria's.
    impact, files = breach(env, "attachments", "2019-01-01", "2019-01-02")
    assert impact.untimed_tables == ["attachments"]
    (maria,) = with_email(people(files, NORTHWIND), DEMO_EMAIL)
    assert maria["rows"] == {"us:attachments": 1}
    assert "every row counted: attachments" in files.json_path.read_text()


def test_inextcrm_notifies_its_users_once_each(env: DsrEnv) -> None:
    tables = "users,marketing_subscriptions,invoices"
    impact, files = breach(env, tables, "2026-06-01", "2026-07-01T12:00")
    assert impact.clients == []  # iNextCRM's own tables: no Client notifies anyone
    (maria,) = with_email(people(files), DEMO_EMAIL)
    # User, subscriber and billing contact are one person; invoice 2026-07-01 is in, 08-01 not.
    assert maria["rows"] == {"us:invoices": 1, "us:marketing_subscriptions": 1, "us:users": 1}
    assert maria["other_ids"]["user_id"] == [str(planted_id("us", 2))]
    assert maria["clients"] == [CONTOSO]
    assert with_email(people(files), "priya.raman@northwind.test")
    assert not with_email(people(files), "lena.vogt@fabrikam.test")  # signed up 2026-09-01
    assert impact.inextcrm_people == len(people(files))
    later, later_files = breach(env, tables, "2026-06-01", "2026-09-30")
    assert with_email(people(later_files), "lena.vogt@fabrikam.test")
    assert later.counts()["inextcrm_users"] == impact.counts()["inextcrm_users"] + 1


# -- the report, the store, the audit log ------------------------------------------------------


def test_the_report_is_in_the_eu_store_and_the_audit_log_has_counts_only(env: DsrEnv) -> None:
    before = len(env.ledger.audit_entries())
    impact, files = breach(env, "contacts,notes", "2026-01-01", "2026-02-05")
    assert files.folder.parent.parent == env.settings.export_dirs["eu"]
    doc = files.json_path.read_bytes()
    assert hashlib.sha256(doc).hexdigest() == files.sha256
    assert DEMO_EMAIL in doc.decode()  # the report is where the notice list lives
    csv_text = (files.folder / "affected.csv").read_text()
    assert csv_text.count(DEMO_EMAIL) == 2  # Northwind's line and Fabrikam's
    html = (files.folder / "summary.html").read_text()
    assert "Northwind Traders" in html and DEMO_EMAIL not in html
    assert oct(files.json_path.stat().st_mode & 0o777) == "0o600"
    entries = env.ledger.audit_entries()
    assert len(entries) == before + 1
    entry = entries[-1]
    assert entry.event == AUDIT_EVENT
    assert entry.details["report_sha256"] == files.sha256
    assert entry.details["people"] == impact.people_total
    assert entry.details["tables"] == ["contacts", "notes"]
    text = json.dumps(entry.details)
    assert "@" not in text and "4155550142" not in text and "jensen" not in text.lower()
    assert env.ledger.verify_chain().ok
    _, us_only = breach(env, "contacts", "2026-01-01", "2026-02-05", regions="us")
    assert us_only.folder.parent.parent == env.settings.export_dirs["us"]


def test_dagster_job_stores_counts_and_the_report_hash_never_a_person(env: DsrEnv) -> None:
    job = env.defs.resolve_job_def("breach_impact_job")
    config = {"tables": ["contacts", "notes", "users"], "since": "2026-01-01",
              "until": "2026-02-05"}  # fmt: skip
    result = job.execute_in_process(
        run_config={"ops": {"breach_impact": {"config": config}}}, instance=env.instance
    )
    assert result.success
    (output,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    meta = output.event_specific_data.metadata  # type: ignore[union-attr]
    report = Path(meta["report_path"].value)
    assert hashlib.sha256(report.read_bytes()).hexdigest() == meta["report_sha256"].value
    assert meta["people"].value == json.loads(report.read_text())["counts"]["people"] > 0
    assert DEMO_EMAIL in report.read_text()
    needles = (DEMO_EMAIL, "4155550142", "415.555.0142", "jensen", "tom.becker", "northwind.test")
    for path in env.settings.dagster_home.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            for needle in needles:
                assert needle.encode() not in data, (path, needle)
    logs = " ".join(str(e.message) for e in env.instance.all_logs(result.run_id)).lower()
    assert "people affected" in logs and DEMO_EMAIL not in logs and "jensen" not in logs


def dsr_process(seed: str, out: Path, *args: str) -> dict[str, Any]:
    """`dsr breach-impact` in its own interpreter, with its own string-hash order."""
    env = {**os.environ, "PYTHONHASHSEED": seed}
    cmd = [
        sys.executable,
        "-m",
        "dsr.cli.main",
        "breach-impact",
        *args,
        "--out",
        str(out),
        "--json",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_same_data_gives_the_same_report_bytes(lite: DsrEnv) -> None:
    # Sets of identities iterate in an order that changes with every interpreter: each run is
    # its own process with another hash seed, and only the breach id and the time may differ.
    args = ("--tables", "users,contacts,notes,support_tickets", "--since", "2019-01-01",
            "--until", "2026-11-30")  # fmt: skip
    runs = [dsr_process(seed, lite.settings.home / f"r{seed}", *args) for seed in ("1", "2")]
    texts = []
    for run in runs:
        folder = Path(run["report_path"]).parent
        generated = json.loads(Path(run["report_path"]).read_text())["generated_at"]
        files = [(folder / n).read_text() for n in ("report.json", "affected.csv", "summary.html")]
        texts.append([t.replace(run["breach_id"], "B").replace(generated, "T") for t in files])
        assert sorted(p.name for p in folder.iterdir()) == [
            "affected.csv", "report.json", "summary.html"]  # fmt: skip
    assert runs[0]["people"] > 100 and runs[0]["clients_affected"] >= 3
    assert texts[0] == texts[1]


def test_the_report_goes_to_the_store_of_the_regions_with_rows(lite: DsrEnv) -> None:
    # Asked about every region, EU among them: written in the EU store while the people are
    # found, then moved where the rows found belong.
    impact, files = breach(lite, "contacts", "2026-01-01", "2026-02-05", regions="us,eu")
    assert impact.regions_with_data() == ["eu", "us"]
    assert files.folder.parent.parent == lite.settings.export_dirs["eu"]
    # Before any synthetic row, only this contact (us) existed.
    insert_contact(lite, 52, email="early@example.net", created_at=datetime(2018, 5, 1, 9, 0))
    us_only, us_files = breach(lite, "contacts", "2018-05-01", "2018-05-01", regions="us,eu")
    assert us_only.regions_with_data() == ["us"]
    assert us_files.folder.parent.parent == lite.settings.export_dirs["us"]
    assert [p["emails"] for p in people(us_files, NORTHWIND)] == [["early@example.net"]]
    eu_reports = lite.settings.export_dirs["eu"] / "breach"
    assert sorted(p.name for p in eu_reports.iterdir()) == [impact.breach_id]


def test_the_identity_cache_gives_what_validation_gives() -> None:
    cache = IdentityCache(maxsize=4)
    values = [("email", " Maria.Jensen@Example.org "), ("email", "not an address"),
              ("phone", "(415) 555-0142"), ("phone", "0049 30 1234567"), ("name", "Maria  Jensen"),
              ("user_id", 1), ("user_id", 1.0), ("user_id", "1"), ("email", None)] * 3  # fmt: skip
    for kind, raw in values:
        assert cache.normalise(kind, raw, "US") == harvest_identity(kind, raw, "US")
    phone = Identity("phone", "+14155550142")
    assert cache.match_values(phone) == match_values(phone) == cache.match_values(phone)
    assert cache.stats()["hits"] > 0


# -- bad input ------------------------------------------------------------------------------------


def dsr(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["breach-impact", *args])
    return result.exit_code, result.stdout, result.stderr


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
