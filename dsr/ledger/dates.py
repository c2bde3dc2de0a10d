"""Deadlines: GDPR Art. 12(3) counts in calendar months, the opt-out promise in business days."""

from __future__ import annotations

from collections.abc import Container
from datetime import date, datetime, timedelta
from typing import TypeVar

from dateutil.relativedelta import relativedelta

# Art. 12(3): one month to answer, extendable "by two further months".
RESPONSE_MONTHS = 1
MAX_EXTENSION_MONTHS = 2

_D = TypeVar("_D", date, datetime)


def due_date(received_at: _D, extension_months: int = 0) -> _D:
    """One calendar month after receipt (plus any extension), clamped to the month's end.

    Computed from the receipt each time rather than by adding to the previous due date, so that
    Jan 31 + 1 month = Feb 28/29 and Jan 31 + 3 months = Apr 30 (not Mar 28 + 1 month).
    """
    if not 0 <= extension_months <= MAX_EXTENSION_MONTHS:
        raise ValueError(f"an extension is 0 to {MAX_EXTENSION_MONTHS} months")
    return received_at + relativedelta(months=RESPONSE_MONTHS + extension_months)


def _is_business_day(day: date, holidays: Container[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_business_days(start: date, n: int, holidays: Container[date] = ()) -> date:
    """The day ``n`` business days after ``start`` (Mon-Fri, skipping ``holidays``).

    ``start`` itself never counts: a request received on Friday has Monday as business day 1.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    if isinstance(start, datetime):
        start = start.date()
    day = start
    remaining = n
    while remaining:
        day += timedelta(days=1)
        if _is_business_day(day, holidays):
            remaining -= 1
    return day


def business_days_between(a: date, b: date, holidays: Container[date] = ()) -> int:
    """Business days after ``a`` up to and including ``b``; negative when ``b`` is before ``a``.

    The inverse of ``add_business_days``:
    ``business_days_between(d, add_business_days(d, n)) == n``.
    """
    if isinstance(a, datetime):
        a = a.date()
    if isinstance(b, datetime):
        b = b.date()
    if b < a:
        return -business_days_between(b, a, holidays)
    count = 0
    day = a
    while day < b:
        day += timedelta(days=1)
        if _is_business_day(day, holidays):
            count += 1
    return count


# Policy 5.3: a marketing opt-out is processed within ten business days.
OPT_OUT_BUSINESS_DAYS = 10


def business_due_date(
    received_at: datetime, n: int = OPT_OUT_BUSINESS_DAYS, holidays: Container[date] = ()
) -> datetime:
    """``n`` business days after receipt, at the same time of day (dates taken in its zone)."""
    day = add_business_days(received_at.date(), n, holidays)
    return datetime.combine(day, received_at.timetz())
