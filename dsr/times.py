"""Times as this project keeps them: in UTC, and never guessed from a time without a zone.

The one exception is what SQLite hands back: it keeps no zone, and everything written to it is
UTC, so a naive time read from a store is UTC (``utc``). A time given by a person or a run's
config must say its zone (``aware_utc``, ``parse_aware``): a naive one is ambiguous.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EXAMPLE = "2026-11-25T04:15:00+00:00"


def utc(value: datetime) -> datetime:
    """A stored time in UTC; naive means UTC (SQLite keeps no zone, everything is written UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def aware_utc(value: datetime, what: str) -> datetime:
    """``value`` in UTC; ValueError naming ``what`` if it carries no time zone."""
    if value.tzinfo is None:
        raise ValueError(f"{what} must carry a time zone (a naive time is ambiguous)")
    return value.astimezone(UTC)


def parse_aware(text: str | None, what: str) -> datetime | None:
    """An ISO-8601 time with a zone, in UTC; None for an empty ``text`` (the caller's "now").
    ValueError naming ``what`` for anything else."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{what}: {text[:40]!r} is not an ISO-8601 time such as {EXAMPLE}"
        ) from None
    if when.tzinfo is None:
        raise ValueError(f"{what} needs a time zone, e.g. {EXAMPLE} (a naive time is ambiguous)")
    return when.astimezone(UTC)


# A time a little ahead of this host's clock (a schedule's tick, another host's clock) is still
# now, not the future.
CLOCK_SKEW = timedelta(minutes=5)


def not_in_future(
    when: datetime, what: str, consequence: str, clock: datetime | None = None
) -> None:
    """ValueError if ``when`` is later than the clock (plus ``CLOCK_SKEW``): time-based
    destruction happens on time, never early."""
    clock = clock or datetime.now(UTC)
    if when > clock + CLOCK_SKEW:
        raise ValueError(
            f"{what}: {when.isoformat()} is later than the clock ({clock:%Y-%m-%dT%H:%M}Z): "
            f"{consequence}"
        )
