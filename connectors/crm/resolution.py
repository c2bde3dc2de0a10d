"""The identity fixpoint across regions, keeping what each region found on the way.

A phone found in the us CRM is searched in the eu CRM too, and so on until no region yields a new
identity. Each region's ``SubjectState`` (identities searched, rows matched) is kept, so that
``CrmSqlConnector.find`` can reuse the rows instead of sending the identity pass again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from connectors.base import FoundRow, Identity


class RegionSearch(Protocol):
    """What the fixpoint needs of a region's connector (``connectors.crm.sql.CrmSqlConnector``)."""

    region: str

    def resolve(
        self,
        subjects: dict[str, set[Identity]],
        *,
        scope: str,
        client_id: str | None = None,
        state: dict[str, SubjectState] | None = None,
    ) -> dict[str, set[Identity]]: ...


@dataclass
class SubjectState:
    """What discovery knows of one subject in one database: identities, the ones searched, rows."""

    identities: set[Identity]
    searched: set[Identity] = field(default_factory=set)
    rows: dict[tuple[str, str], FoundRow] = field(default_factory=dict)


def resolve_across(
    connectors: Iterable[RegionSearch],
    subjects: dict[str, set[Identity]],
    *,
    scope: str,
    client_id: str | None = None,
) -> dict[str, set[Identity]]:
    """The identity fixpoint over every region: a phone found in one region is searched in all."""
    return Resolution.across(connectors, subjects, scope=scope, client_id=client_id).identities


@dataclass
class Resolution:
    """The cross-region fixpoint, with what each region found on the way (for ``find``)."""

    identities: dict[str, set[Identity]]
    states: dict[str, dict[str, SubjectState]]

    @classmethod
    def across(
        cls,
        connectors: Iterable[RegionSearch],
        subjects: dict[str, set[Identity]],
        *,
        scope: str,
        client_id: str | None = None,
    ) -> Resolution:
        connectors = list(connectors)
        states: dict[str, dict[str, SubjectState]] = {c.region: {} for c in connectors}
        current = {key: set(ids) for key, ids in subjects.items()}
        while True:
            before = {key: len(ids) for key, ids in current.items()}
            for connector in connectors:
                current = connector.resolve(
                    current, scope=scope, client_id=client_id, state=states[connector.region]
                )
            if all(len(current[key]) == n for key, n in before.items()):
                return cls(current, states)
