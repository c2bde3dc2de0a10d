"""Minors (policy 10): people under the age of majority without recorded parental consent.

Which table keeps a birth date and a consent is the data map's ``minors`` entry; the e-mail that
names the person for the erasure is the table's e-mail identity. Age is counted in calendar
years: a person born on 29 February comes of age on 28 February in a year without one — the
earlier of the two dates in use, so an adult is never taken for a minor.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from connectors.base import EMAIL
from connectors.crm.flags import is_flagged
from connectors.crm.sql import CrmSqlConnector
from connectors.crm.sql_helpers import row_key
from connectors.identities import InvalidIdentity, normalise_email


def is_minor(birth_date: date, on: date, age_of_majority: int = 18) -> bool:
    """Under ``age_of_majority`` on ``on``: the birthday that makes them of age is later."""
    if isinstance(birth_date, datetime):
        birth_date = birth_date.date()
    return birth_date + relativedelta(years=age_of_majority) > on


@dataclass(frozen=True)
class Minor:
    """A row of a minor without consent. ``email`` names them for the erasure: never log it."""

    region: str
    table: str
    pk: str
    email: str | None
    restricted: bool

    def __repr__(self) -> str:
        return f"Minor({self.region}, {self.table}, {self.pk})"


@dataclass
class MinorsFound:
    region: str
    minors: list[Minor] = field(default_factory=list)
    # table -> minors whose consent is recorded (left alone), for the check's counts.
    with_consent: Counter[str] = field(default_factory=Counter)


def find_minors(connector: CrmSqlConnector, on: date) -> MinorsFound:
    """Every row, in every table with a ``minors`` entry, of a person under age on ``on``."""
    found = MinorsFound(connector.region)
    for name, tmap in connector.datamap.tables.items():
        spec = tmap.minors
        if spec is None:
            continue
        table = connector.table(name)
        born = table.c[spec.birth_date]
        emails = [i.column for i in tmap.identities if i.kind == EMAIL and i.matches]
        # Wide in SQL (one extra year), exact in Python: date arithmetic differs per database.
        earliest = on - relativedelta(years=spec.age_of_majority + 1)
        query = select(table).where(born.is_not(None), born > earliest, born <= on)
        with connector.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        for row in rows:
            if not is_minor(row[spec.birth_date], on, spec.age_of_majority):
                continue
            if row[spec.parental_consent]:
                found.with_consent[name] += 1
                continue
            found.minors.append(
                Minor(
                    connector.region,
                    name,
                    row_key(tmap, row),
                    _email(row, emails),
                    is_flagged(tmap.restriction, row),
                )
            )
    return found


def _email(row: object, columns: list[str]) -> str | None:
    for column in columns:
        raw = row[column]  # type: ignore[index]
        if raw:
            try:
                return normalise_email(str(raw))
            except InvalidIdentity:
                continue
    return None
