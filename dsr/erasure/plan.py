"""Erasure plans: what the data map says erasure does to a subject's rows, before any change.

A plan is computed from discovery's ``Findings`` alone and changes nothing, so a dry run shows it
as it is. ``ColumnRules`` is the one place that knows what a column becomes (NULL, a keyed hash,
a placeholder, a redacted text): planning predicts with it, applying writes with it and
verification checks with it, so the three cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from string import hexdigits
from typing import Any, Literal

from dateutil.relativedelta import relativedelta
from sqlalchemy import String, Table

from connectors.base import Findings, FoundRow
from connectors.crm.datamap import DataMap, DataMapError, TableMap
from connectors.crm.datamap_checks import column_action_problem
from connectors.crm.phone_countries import PhoneCountries
from connectors.free_text import MentionMatcher
from connectors.identities import harvest_identity

Action = Literal["delete", "anonymise", "keep", "redact"]
Hasher = Callable[[str, str], str]
_PERIOD = re.compile(r"^\s*(\d+)\s*([dwmy])[a-z]*\s*$", re.IGNORECASE)
_UNITS = {"d": "days", "w": "weeks", "m": "months", "y": "years"}


@dataclass
class TablePlan:
    region: str
    table: str
    action: Action
    pks: list[str]
    # column -> what erasure does to it: null | hash | placeholder | keep | redact.
    columns: dict[str, str]
    legal_basis: str | None = None
    retain_for: str | None = None
    until: str | None = None  # ISO date the last kept row of this table expires
    # Rows found but already erased (a second run): kept or anonymised, yet nothing to change.
    unchanged: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.pks) - len(self.unchanged)


@dataclass
class ErasurePlan:
    region: str
    subject: str
    tables: list[TablePlan]

    def counts(self) -> dict[str, dict[str, int]]:
        """table -> action -> rows the action covers (kept rows count even when unchanged)."""
        return self._tally(lambda tp: len(tp.pks))

    def changes(self) -> dict[str, dict[str, int]]:
        """table -> action -> rows applying the plan is expected to change."""
        return self._tally(lambda tp: tp.changes)

    def _tally(self, size: Callable[[TablePlan], int]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for tp in self.tables:
            by_action = out.setdefault(tp.table, {})
            by_action[tp.action] = by_action.get(tp.action, 0) + size(tp)
        return out


@dataclass(frozen=True)
class Replacements:
    hasher: Hasher
    placeholder: str
    redaction: str
    default_phone_region: str = "US"
    # Per-row reading country of phones (connectors.crm.phone_countries); the default without one.
    countries: PhoneCountries | None = None


class ColumnRules:
    """How one table's rows are erased, checked once against the live column types."""

    def __init__(self, name: str, tmap: TableMap, table: Table, repl: Replacements, where: str):
        self.name, self.tmap, self.table, self.repl = name, tmap, table, repl
        self.text = {c.name for c in table.columns if isinstance(c.type, String)}
        self.kinds = {i.column: i.kind for i in tmap.identities if i.column}
        # E-mail, phone and name identify on their own: a row that stays must not keep them.
        self.strong = tmap.identifying_columns
        probe = repl.hasher("probe", "probe")
        self._hash_len = len(probe)
        self._hash_hex = all(ch in hexdigits for ch in probe)
        self.actions: dict[str, str] = {}
        action = tmap.erasure.action if tmap.erasure else "delete"
        if action != "delete":
            self.actions = {col: spec.erase or "keep" for col, spec in tmap.personal_data.items()}
            for col in tmap.free_text:
                if self.actions.get(col, "keep") == "keep":
                    self.actions[col] = "redact"
            self._check(where)

    @property
    def redactions(self) -> dict[str, str]:
        """The actions for someone else's row that mentions the subject: its texts only."""
        return {col: "redact" for col in self.tmap.free_text}

    def _check(self, where: str) -> None:
        """Refuse, before anything changes, an action the column cannot hold (the data map's
        load check made the same test with the default placeholder)."""
        for col, action in self.actions.items():
            if col not in self.table.c:
                raise DataMapError(f"{where}: table {self.name!r} has no column {col!r}")
            column = self.table.c[col]
            problem = column_action_problem(
                action,
                column.type,
                bool(column.nullable),
                placeholder=self.repl.placeholder,
                hash_length=self._hash_len,
            )
            if problem:
                raise DataMapError(f"{where}: table {self.name!r}, column {col!r}: {problem}")

    # -- what a value becomes ----------------------------------------------------------------

    def looks_hashed(self, value: Any) -> bool:
        if not isinstance(value, str) or len(value) != self._hash_len:
            return False
        return not self._hash_hex or all(ch in hexdigits for ch in value)

    def country(self, row: Mapping[str, Any]) -> str:
        """Where the row's phone numbers without a country code are read."""
        countries = self.repl.countries
        return countries.for_row(self.name, row) if countries else self.repl.default_phone_region

    def redact(self, text: str, matcher: MentionMatcher, country: str | None = None) -> str:
        out = text
        # From the end, so earlier spans keep their offsets.
        for _, start, end in reversed(matcher.find(text, country)):
            out = out[:start] + self.repl.redaction + out[end:]
        return out

    def _erased(
        self, col: str, action: str, value: Any, matcher: MentionMatcher, country: str
    ) -> Any:
        if value is None or action == "keep":
            return value
        if action == "null":
            return None
        if action == "placeholder":
            return self.repl.placeholder if col in self.text else None
        if action == "hash":
            if self.looks_hashed(value):
                return value  # hashed by an earlier run: hashing again would break joins
            kind = self.kinds.get(col, col)
            ident = harvest_identity(kind, value, country)
            return self.repl.hasher(kind, ident.value if ident else str(value))
        if action == "redact":
            return self.redact(value, matcher, country) if isinstance(value, str) else value
        raise ValueError(f"unknown erase action {action!r}")

    def changes(
        self, row: Mapping[str, Any], columns: Mapping[str, str], matcher: MentionMatcher
    ) -> dict[str, Any]:
        """column -> new value, for the columns whose value erasure changes."""
        out = {}
        country = self.country(row)
        for col, action in columns.items():
            new = self._erased(col, action, row[col], matcher, country)
            if new != row[col]:
                out[col] = new
        return out

    def leftovers(self, row: Mapping[str, Any], matcher: MentionMatcher) -> list[str]:
        """Columns of a row that stays which still hold what erasure should have removed."""
        country = self.country(row)
        left = [
            c for c, a in self.actions.items() if self._unerased(c, a, row.get(c), matcher, country)
        ]
        for col, kind in self.strong.items():
            value = row.get(col)
            ident = harvest_identity(kind, value, country)
            if ident is not None and col not in left and not self.looks_hashed(value):
                left.append(col)
        return sorted(left)

    def _unerased(
        self, col: str, action: str, value: Any, matcher: MentionMatcher, country: str
    ) -> bool:
        if value is None or action == "keep":
            return False
        if action == "hash":
            return not self.looks_hashed(value)
        return self._erased(col, action, value, matcher, country) != value


# -- retention -----------------------------------------------------------------------------


def retention_end(start: date, period: str) -> date:
    match = _PERIOD.match(period)
    if not match:
        raise DataMapError(f"retention period {period!r} is not like '7y', '6m', '30d' or '2w'")
    unit = _UNITS[match.group(2).lower()]
    return start + relativedelta(**{unit: int(match.group(1))})


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value).date()
    return None


def row_until(tmap: TableMap, data: Mapping[str, Any], today: date) -> date | None:
    """When a kept row expires: its ``retain_from`` date (else today) plus ``retain_for``."""
    erasure = tmap.erasure
    if erasure is None or not erasure.retain_for:
        return None
    start = _as_date(data.get(erasure.retain_from)) if erasure.retain_from else None
    return retention_end(start or today, erasure.retain_for)


# -- planning ------------------------------------------------------------------------------


def build_plan(
    findings: Findings,
    datamap: DataMap,
    rules: Callable[[str], ColumnRules],
    today: date,
) -> ErasurePlan:
    matcher = MentionMatcher(findings.identities)
    own: dict[str, dict[str, FoundRow]] = {}
    for row in findings.rows:
        own.setdefault(row.ref.table, {}).setdefault(row.ref.pk, row)
    mentioned: dict[str, dict[str, None]] = {}
    for m in findings.mentions:
        mentioned.setdefault(m.ref.table, {})[m.ref.pk] = None
    tables: list[TablePlan] = []
    for name in datamap.traversal_order():
        if name in own:
            rows = own[name]
            tables.append(_own_rows(findings.region, name, datamap, rows, rules, matcher, today))
        if name in mentioned:
            tables.append(
                TablePlan(
                    findings.region, name, "redact", list(mentioned[name]), rules(name).redactions
                )
            )
    return ErasurePlan(findings.region, findings.subject, tables)


def _own_rows(
    region: str,
    name: str,
    datamap: DataMap,
    rows: Mapping[str, FoundRow],
    rules: Callable[[str], ColumnRules],
    matcher: MentionMatcher,
    today: date,
) -> TablePlan:
    tmap = datamap.tables[name]
    erasure = tmap.erasure
    assert erasure is not None  # check_erasure_complete ran first
    if erasure.action == "delete":
        return TablePlan(region, name, "delete", list(rows), {})
    table_rules = rules(name)
    columns = dict(table_rules.actions)
    unchanged = [pk for pk, r in rows.items() if not table_rules.changes(r.data, columns, matcher)]
    untils = [u for r in rows.values() if (u := row_until(tmap, r.data, today))]
    return TablePlan(
        region,
        name,
        erasure.action,
        list(rows),
        columns,
        legal_basis=erasure.legal_basis,
        retain_for=erasure.retain_for,
        until=max(untils).isoformat() if untils else None,
        unchanged=unchanged,
    )
