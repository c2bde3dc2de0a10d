"""Business days for the opt-out promise: weekends and legal public holidays, configurable."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import EMAIL, Identity
from dsr.keys import KeyRing
from dsr.ledger import Ledger, RequestType, Scope
from dsr.ledger.business_calendar import business_calendar
from dsr.ledger.dates import add_business_days, business_days_between
from dsr.settings import Settings, SettingsError
from resources import build_resources

ROOT = Path(__file__).resolve().parents[1]
US_2027 = {
    date(2027, 1, 1),  # New Year's Day
    date(2027, 1, 18),  # Birthday of Martin Luther King, Jr.
    date(2027, 2, 15),  # Washington's Birthday
    date(2027, 5, 31),  # Memorial Day
    date(2027, 6, 19),  # Juneteenth
    date(2027, 7, 4),  # Independence Day
    date(2027, 9, 6),  # Labor Day
    date(2027, 10, 11),  # Columbus Day
    date(2027, 11, 11),  # Veterans Day
    date(2027, 11, 25),  # Thanksgiving Day
    date(2027, 12, 25),  # Christmas Day
}


def test_the_default_calendar_is_the_eleven_legal_public_holidays_on_their_dates() -> None:
    us = business_calendar()
    days = [date(2027, 1, 1) + timedelta(days=n) for n in range(365)]
    assert {d for d in days if d in us} == US_2027
    # 5 U.S.C. 6103(a) dates, not the Friday a Saturday holiday is observed on.
    assert date(2026, 7, 3) not in us and date(2026, 7, 4) in us
    # Lazily expanded: any year is answered.
    assert date(2031, 12, 25) in us


@pytest.mark.parametrize(
    ("spec", "received", "due"),
    [
        # Thanksgiving week: Thursday is skipped, the Friday after is a business day.
        ("US", date(2026, 11, 25), date(2026, 12, 10)),
        ("none", date(2026, 11, 25), date(2026, 12, 9)),
        # Christmas and New Year (both Fridays in 2026/27) push it two days.
        ("US", date(2026, 12, 24), date(2027, 1, 11)),
        ("none", date(2026, 12, 24), date(2027, 1, 7)),
        # The Netherlands: King's Day (Tue 27 Apr 2027) and Ascension Day (Thu 6 May 2027).
        ("NL", date(2027, 4, 23), date(2027, 5, 11)),
        ("US", date(2027, 4, 23), date(2027, 5, 7)),
        # A subdivision adds its own: Bavaria keeps Corpus Christi (Thu 27 May 2027).
        ("DE-BY", date(2027, 5, 20), date(2027, 6, 4)),
        ("DE", date(2027, 5, 20), date(2027, 6, 3)),
    ],
)
def test_ten_business_days_skip_the_holidays(spec: str, received: date, due: date) -> None:
    holidays = business_calendar(spec)
    assert add_business_days(received, 10, holidays) == due
    assert business_days_between(received, due, holidays) == 10


@pytest.mark.parametrize("spec", ["XX", "US-ZZ", "", "US; DROP TABLE requests"])
def test_an_unknown_calendar_is_refused_by_name(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown business-day calendar"):
        business_calendar(spec)


def test_the_ledger_dates_opt_outs_with_its_calendar(tmp_path: Path) -> None:
    keys = KeyRing(tmp_path / "keys")
    received = datetime(2026, 12, 24, 23, 0, tzinfo=UTC)
    me = [Identity(EMAIL, "someone@example.org")]
    dues = {}
    for spec in ("US", "none"):
        ledger = Ledger(f"sqlite:///{tmp_path / f'{spec}.sqlite'}", keys, business_calendar(spec))
        ledger.create_schema()
        record = ledger.register(
            type=RequestType.OPT_OUT, scope=Scope.USER_ACCOUNT, identities=me, received_at=received
        )
        dues[spec] = record.due_at
        # What the audit trail promises is what the ledger tracks.
        assert ledger.audit_entries(record.request_id)[0].details["due_at"] == (
            record.due_at.isoformat()
        )
    assert dues == {
        "US": datetime(2027, 1, 11, 23, 0, tzinfo=UTC),
        "none": datetime(2027, 1, 7, 23, 0, tzinfo=UTC),
    }


def test_the_environment_chooses_the_calendar_for_every_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSR_BUSINESS_CALENDAR", "none")
    settings = Settings.from_env(tmp_path / "home")
    settings.ensure_dirs()
    ledger = build_resources(settings)["ledger"].ledger()
    record = ledger.register(
        type=RequestType.OPT_OUT,
        scope=Scope.USER_ACCOUNT,
        identities=[Identity(EMAIL, "someone@example.org")],
        received_at=datetime(2026, 11, 25, 9, tzinfo=UTC),
    )
    assert record.due_at == datetime(2026, 12, 9, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DSR_BUSINESS_CALENDAR", "Narnia", "DSR_BUSINESS_CALENDAR: unknown business-day calendar"),
        ("DSR_DEADLINE_WARN_DAYS", "five", "DSR_DEADLINE_WARN_DAYS must be a whole number"),
        ("DSR_BACKUP_RETENTION_DAYS", "-3", "DSR_BACKUP_RETENTION_DAYS must not be negative"),
    ],
)
def test_a_misconfigured_environment_is_one_clear_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.setenv("DSR_HOME", str(tmp_path / "home"))
    with pytest.raises(SettingsError, match=message):
        Settings.from_env()
    done = subprocess.run(
        [sys.executable, "-m", "dsr.cli.main", "deadlines"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    # Refused before anything was created.
    assert not (tmp_path / "home").exists()
