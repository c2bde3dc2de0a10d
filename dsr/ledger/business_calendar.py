"""Which days count as business days for the opt-out promise (policy 5.3).

The policy's "ten (10) business days" for a commercial-e-mail opt-out is the CAN-SPAM rule
(15 U.S.C. 7704(a)(4), 16 CFR 316.2): a business day is any day other than a Saturday, a Sunday
or a legal public holiday as listed in 5 U.S.C. 6103(a). So the default calendar is ``US`` with
holidays on their legal dates, not the Friday/Monday "observed" days of 6103(b), which apply to
federal employees' leave, not to the definition the rule points at.

Another jurisdiction can be chosen by its ISO 3166 code (``NL``, ``DE``), optionally with a
subdivision (``DE-BY``); ``none`` counts Monday to Friday only. The holidays come from the
maintained ``holidays`` package, which expands each year lazily, so a due date in any year is
answered without a fixed table.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import date
from functools import cache

DEFAULT_CALENDAR = "US"
NO_HOLIDAYS = "none"


@cache
def business_calendar(spec: str = DEFAULT_CALENDAR) -> Container[date]:
    """The public holidays ``spec`` names (``US``, ``DE-BY``, ``none``); ValueError if unknown.

    One per spec and process: loading a country's rules takes ~0.1 s, and both the settings
    check and every ledger ask for the same calendar."""
    text = spec.strip()
    if text.lower() == NO_HOLIDAYS:
        return frozenset()
    country, _, subdivision = text.upper().partition("-")
    try:
        import holidays  # heavy (every country's calendar): only when an opt-out is dated

        return holidays.country_holidays(country, subdiv=subdivision or None, observed=False)
    except NotImplementedError:
        raise ValueError(
            f"unknown business-day calendar {spec!r}: use an ISO 3166 country code the holidays "
            f"package knows (US, NL, DE), optionally with a subdivision (DE-BY), or {NO_HOLIDAYS!r}"
        ) from None
