"""Breach impact: the right people per Client and for iNextCRM, the window, the report, no leaks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Identity
from connectors.identities import harvest_identity, match_values
from dsr.breach.identities import IdentityCache
from dsr.breach.run import AUDIT_EVENT
from dsr.democrm.planted import DEMO_EMAIL, planted_id
from tests.breach_env import (
    CONTOSO,
    FABRIKAM,
    JONAS,
    MARIA_PHONE,
    NAMESAKE,
    NORTHWIND,
    TOM,
    backend_env,
    breach,
    client,
    insert_contact,
    lite_env,
    people,
    with_email,
)
from tests.dsr_env import DsrEnv


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DsrEnv]:
    yield from backend_env(request, tmp_path)


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[DsrEnv]:
    yield from lite_env(tmp_path)


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
