"""When a retention period is over: calendar arithmetic shared by every purge.

Periods are the data map's (``1m``, ``7y``, ``30d``) and are added with ``relativedelta``, which
clamps to the end of a shorter month: a closure on 31 January is due on 28 (or 29) February, and
a billing record of 29 February 2020 kept seven years expires on 28 February 2027.

Closure is counted in dates, as the policy words it ("within 1 month of the date of closure"):
an account closed at any time on 10 January is due on 10 February, so a purge that runs daily
early in the day keeps the promise to the day. Retention of a kept row ends on its ``until``
date (``retain_from`` + ``retain_for``), the date its deletion proof names: from that day on it
is deleted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta

from dsr.erasure.plan import _PERIOD, _UNITS, retention_end


def as_date(value: Any) -> date | None:
    """A stored date or timestamp as a date (naive timestamps are UTC, as the CRM stores them)."""
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        return as_date(datetime.fromisoformat(value.strip()))
    return None


def utc_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now.astimezone(UTC)


def due_on(start: date, period: str) -> date:
    """The first day on which ``period`` has passed since ``start``."""
    return retention_end(start, period)


def is_due(start: Any, period: str, today: date) -> bool:
    """True when ``period`` has passed since ``start``; never for a missing start date."""
    day = as_date(start)
    return day is not None and due_on(day, period) <= today


def latest_due_start(today: date, period: str) -> date:
    """A bound for SQL: every start date that is due is on or before this day.

    Subtracting a period is not the exact inverse of adding it at month ends (30 and 31 March
    both reach 30 April), so the bound is a few days generous and ``is_due`` decides each row.
    """
    match = _PERIOD.match(period)
    if not match:
        retention_end(today, period)  # raises the data map's error for a malformed period
    unit = _UNITS[match.group(2).lower()]  # type: ignore[union-attr]
    return today - relativedelta(**{unit: int(match.group(1))}) + timedelta(days=3)  # type: ignore[union-attr]
