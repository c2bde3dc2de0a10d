"""Which Client a request names: by its id or by its name, as support knows it.

The README and the demo name Clients ("Northwind Traders"); the ledger keeps their ids. Both the
Launchpad form and ``--client`` come through here, so a name resolves the same way everywhere and
an unknown one is refused with the closest names, never guessed.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from connectors.crm.sql import CrmSqlConnector
from connectors.crm.sql_helpers import typed_value
from dsr.intake_request import IntakeError

_CLOSE = 3


@dataclass(frozen=True)
class ResolvedClient:
    client_id: str
    regions: tuple[str, ...]


def _tenants(connector: CrmSqlConnector):  # type: ignore[no-untyped-def]
    tenants = connector.datamap.tenants
    if tenants is None:
        raise IntakeError(
            f"the data map {connector.datamap.source_path} names no 'tenants' table, so a "
            "client_data request cannot be checked against its Client"
        )
    return tenants


def _by_id(connectors: Sequence[CrmSqlConnector], text: str) -> list[str]:
    found = []
    for connector in connectors:
        tenants = _tenants(connector)
        column = connector.table(tenants.table).c[tenants.id_column]
        typed = typed_value(column, text)
        if typed is None:
            continue
        with connector.engine.connect() as conn:
            if conn.execute(select(column).where(column == typed).limit(1)).first():
                found.append(connector.region)
    return found


def _by_name(
    connectors: Sequence[CrmSqlConnector], text: str
) -> tuple[dict[str, list[str]], list[str]]:
    """Ids (with their regions) whose name equals ``text`` ignoring case, and every name seen."""
    ids: dict[str, list[str]] = {}
    names: list[str] = []
    for connector in connectors:
        tenants = _tenants(connector)
        if not tenants.name_column:
            continue
        table = connector.table(tenants.table)
        id_col, name_col = table.c[tenants.id_column], table.c[tenants.name_column]
        with connector.engine.connect() as conn:
            rows = conn.execute(
                select(id_col, name_col).where(func.lower(name_col) == text.lower())
            ).all()
            for client_id, _ in rows:
                ids.setdefault(str(client_id), []).append(connector.region)
            if not rows:
                names += [n for (n,) in conn.execute(select(name_col).distinct()) if n]
    return ids, names


def resolve_client(connectors: Sequence[CrmSqlConnector], text: str) -> ResolvedClient:
    """The Client ``text`` names (an id, else an exact name ignoring case); IntakeError when
    there is none (naming the closest names) or when a name fits several Clients."""
    text = text.strip()
    regions = _by_id(connectors, text)
    if regions:
        return ResolvedClient(text, tuple(regions))
    ids, names = _by_name(connectors, text)
    if len(ids) == 1:
        ((client_id, where),) = ids.items()
        return ResolvedClient(client_id, tuple(where))
    if ids:
        raise IntakeError(
            f"client {text!r} names {len(ids)} Clients (ids {', '.join(sorted(ids))}): give the "
            "id from the Client's instruction instead"
        )
    close = difflib.get_close_matches(text, sorted(set(names)), n=_CLOSE, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(n) for n in close)}?" if close else "no name is close"
    searched = ", ".join(c.region for c in connectors)
    raise IntakeError(
        f"unknown client {text!r}: no Client has that id or name in any region ({searched}); "
        f"{hint} Check the Client's name or id on its instruction."
    )
