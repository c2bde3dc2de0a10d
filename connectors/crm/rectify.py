"""Rectification (Art. 16): correct a person's data wherever the data map says a field lives.

A field is rectifiable only where the data map tags a personal-data column with ``field: NAME``;
every such column in the person's own rows is corrected, in one transaction per database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from connectors.base import EMAIL, PHONE, Findings
from connectors.crm.datamap import DataMap
from connectors.crm.sql import CrmSqlConnector
from connectors.crm.sql_helpers import key_clause
from connectors.identities import InvalidIdentity, normalise_email, normalise_phone

MAX_VALUE_LENGTH = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class RectifyError(ValueError):
    """A correction that cannot be made as asked; the message says which field and why."""


@dataclass(frozen=True)
class Correction:
    region: str
    table: str
    pk: str
    column: str
    field: str
    before: Any
    after: Any


def rectifiable_fields(dm: DataMap) -> dict[str, list[tuple[str, str]]]:
    """field -> [(table, column)] for every column the data map makes rectifiable."""
    fields: dict[str, list[tuple[str, str]]] = {}
    for table_name, table in dm.tables.items():
        for column, spec in table.personal_data.items():
            if spec.field:
                fields.setdefault(spec.field, []).append((table_name, column))
    return fields


def _kind_of(dm: DataMap, field: str) -> str | None:
    kinds = {
        ident.kind
        for table_name, column in rectifiable_fields(dm).get(field, [])
        for ident in dm.tables[table_name].identities
        if ident.column == column
    }
    return next(iter(kinds)) if len(kinds) == 1 else None


def parse_changes(
    dm: DataMap, pairs: Iterable[str], *, default_region: str = "US"
) -> dict[str, str]:
    """Turn ``field=value`` pairs into validated, normalised values, or refuse them all."""
    known = rectifiable_fields(dm)
    changes: dict[str, str] = {}
    for pair in pairs:
        field, sep, raw = pair.partition("=")
        field = field.strip()
        if not sep or not field:
            raise RectifyError(f"expected field=value, got a pair without '=' ({field or 'empty'})")
        if field not in known:
            raise RectifyError(
                f"field {field!r} is not rectifiable: the data map marks these fields: "
                + ", ".join(sorted(known))
            )
        value = raw.strip()
        if not value or len(value) > MAX_VALUE_LENGTH or _CONTROL.search(value):
            raise RectifyError(
                f"field {field!r}: value must be 1-{MAX_VALUE_LENGTH} printable characters"
            )
        kind = _kind_of(dm, field)
        try:
            if kind == EMAIL:
                value = normalise_email(value)
            elif kind == PHONE:
                value = normalise_phone(value, default_region)
        except InvalidIdentity as exc:
            raise RectifyError(f"field {field!r}: {exc}") from None
        if field in changes:
            raise RectifyError(f"field {field!r} is given twice")
        changes[field] = value
    if not changes:
        raise RectifyError("nothing to correct: give at least one --set field=value")
    return changes


class CrmRectifier:
    def __init__(self, connector: CrmSqlConnector) -> None:
        self.connector = connector

    def plan(self, findings: Findings, changes: Mapping[str, str]) -> list[Correction]:
        dm = self.connector.datamap
        corrections = []
        for row in findings.rows:
            table = dm.tables[row.ref.table]
            for column, spec in table.personal_data.items():
                if spec.field in changes and row.data.get(column) != changes[spec.field]:
                    corrections.append(
                        Correction(
                            findings.region,
                            row.ref.table,
                            row.ref.pk,
                            column,
                            spec.field,
                            row.data.get(column),
                            changes[spec.field],
                        )
                    )
        return corrections

    def apply(self, corrections: Sequence[Correction]) -> int:
        """All corrections of this database in one transaction; any failure changes nothing."""
        dm = self.connector.datamap
        changed = 0
        with self.connector.engine.begin() as conn:
            for c in corrections:
                table = self.connector.table(c.table)
                where = key_clause(table, dm.tables[c.table], [c.pk])
                result = conn.execute(update(table).where(where).values({c.column: c.after}))
                changed += result.rowcount or 0
        return changed
