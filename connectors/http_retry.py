"""How long a service asks us to wait: the ``Retry-After`` header of a 429 or 5xx answer.

Google and GoToMeeting both send it, in either form RFC 9110 allows: a number of seconds, or
an HTTP date. Dropbox's SDK reads its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After value, never negative; None when there is none or it cannot
    be read (a date without a zone among them), so that the caller's own back-off applies."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
