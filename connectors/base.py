"""What every connector hands back: plain data classes, no Dagster, no logging of identities.

A connector follows one protocol — find → export → erase → verify — and speaks in these types.
``Identity`` values are normalised (see ``connectors.identities``) so that two spellings of the
same e-mail or phone number compare equal.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

# The kinds a data map can name. Anything else is an opaque identifier compared exactly.
EMAIL = "email"
PHONE = "phone"
NAME = "name"


@dataclass(frozen=True, order=True)
class Identity:
    kind: str
    value: str

    def __repr__(self) -> str:
        # Identities must never reach logs by accident: repr shows the kind only.
        return f"Identity({self.kind}, <redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class RowRef:
    """Where a row lives: enough to find it again, nothing about whose it is."""

    region: str
    table: str
    pk: str


@dataclass
class FoundRow:
    ref: RowRef
    # How the row was attributed: "identity:<column>" or "reference:<table>.<column>".
    via: str
    data: dict[str, Any]


@dataclass
class Mention:
    """A free-text column that mentions the subject: not the subject's own record."""

    ref: RowRef
    column: str
    kinds: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    excerpt: str


@dataclass
class Findings:
    """What one system (one region of the CRM, one service) holds about one subject."""

    system: str
    region: str
    subject: str
    rows: list[FoundRow] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    identities: set[Identity] = field(default_factory=set)
    searched_tables: list[str] = field(default_factory=list)
    skipped_tables: dict[str, str] = field(default_factory=dict)

    def row_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.ref.table for r in self.rows).items()))

    def mention_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(m.ref.table for m in self.mentions).items()))

    @property
    def total_rows(self) -> int:
        return len(self.rows)


class SubjectConnector(Protocol):
    """The protocol every connector follows. Erasure and verification arrive with issue 3."""

    system: str

    def find(self, subjects: dict[str, set[Identity]]) -> dict[str, Findings]: ...
