"""What a breach-impact query asks: which data-map tables, which window, which regions.

Everything a person types is checked here before any database is read, so bad input gets a clear
error and changes nothing. Table names must be tables the data map declares (they are never put
into SQL as text: the map's own names are used); the window is ISO dates or date-times.

Times: a date means the whole day in UTC (``--until 2026-02-05`` includes the 5th); a date-time
without a zone is taken as UTC, one with a zone is converted to UTC. The CRM stores naive UTC
timestamps, which is what the window is compared with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from connectors.crm.datamap import DataMap

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME_LIKE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _shown(values: list[str]) -> str:
    # An error message reaches logs: echo what looks like a name, never what might be an e-mail.
    return ", ".join(
        repr(v) if _NAME_LIKE.match(v) else "(a value that is not a name)" for v in values
    )


class BreachInputError(ValueError):
    """A breach query that cannot be run as given; the message says what to fix."""


@dataclass(frozen=True)
class BreachWindow:
    since: datetime  # inclusive, aware UTC
    until: datetime  # exclusive, aware UTC

    def iso(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


@dataclass(frozen=True)
class BreachQuery:
    tables: tuple[str, ...]
    window: BreachWindow
    regions: tuple[str, ...]


def parse_instant(raw: str, what: str, *, end_of_day: bool) -> datetime:
    """An ISO date or date-time as aware UTC; a bare date is its day's start (or next day's)."""
    text = (raw or "").strip()
    if not text:
        raise BreachInputError(f"{what} is empty; give an ISO date (2026-02-01) or date-time")
    if _DATE_ONLY.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise BreachInputError(f"{what} {text!r} is not a valid date") from None
        start = datetime.combine(day, time.min, tzinfo=UTC)
        return start + timedelta(days=1) if end_of_day else start
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise BreachInputError(
            f"{what} is not an ISO date or date-time (2026-02-01, 2026-02-01T13:30, "
            "2026-02-01T13:30+01:00)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_window(since: str, until: str, *, now: datetime | None = None) -> BreachWindow:
    start = parse_instant(since, "since", end_of_day=False)
    end = parse_instant(until, "until", end_of_day=True)
    current = now or datetime.now(UTC)
    if start > current:
        # Rows "present" in a future window would be today's rows: a report of the wrong thing.
        raise BreachInputError(
            f"since ({start.isoformat()}) is in the future (now {current:%Y-%m-%dT%H:%M}Z): "
            "give when the breach began"
        )
    if start >= end:
        raise BreachInputError(
            f"since ({start.isoformat()}) must come before until ({end.isoformat()})"
        )
    return BreachWindow(start, end)


def split_names(values: Iterable[str] | str | None) -> list[str]:
    """``["contacts,notes", "emails"]`` or ``"contacts, notes"`` -> the names, in order."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        out += [part.strip() for part in str(value).split(",") if part.strip()]
    return out


def parse_tables(datamap: DataMap, names: Iterable[str] | str | None) -> tuple[str, ...]:
    wanted = split_names(names)
    valid = ", ".join(sorted(datamap.tables))
    if not wanted:
        raise BreachInputError(f"no tables given; choose from the data map's tables: {valid}")
    unknown = [n for n in wanted if n not in datamap.tables]
    if unknown:
        raise BreachInputError(
            f"not a table of the data map {datamap.name!r}: {_shown(unknown)}; "
            f"valid tables: {valid}"
        )
    return tuple(dict.fromkeys(wanted))


def parse_regions(available: Iterable[str], names: Iterable[str] | str | None) -> tuple[str, ...]:
    available = list(available)
    wanted = [n.lower() for n in split_names(names)]
    if not wanted:
        return tuple(available)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise BreachInputError(
            f"not a configured region: {_shown(unknown)}; configured: {', '.join(available)}"
        )
    return tuple(dict.fromkeys(wanted))


def parse_query(
    datamap: DataMap,
    available_regions: Iterable[str],
    *,
    tables: Iterable[str] | str | None,
    since: str,
    until: str,
    regions: Iterable[str] | str | None = None,
) -> BreachQuery:
    return BreachQuery(
        tables=parse_tables(datamap, tables),
        window=parse_window(since, until),
        regions=parse_regions(available_regions, regions),
    )
