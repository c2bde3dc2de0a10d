"""Checks of a data map against what uses it: a live database, and the needs of erasure."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from connectors.base import EMAIL, NAME, PHONE
from connectors.datamap import DataMap, DataMapError


def check_erasure_complete(dm: DataMap) -> None:
    """Erasure needs an action for every table and every personal column it keeps a row of."""
    where = dm.source_path
    for name, table in dm.tables.items():
        if table.erasure is None:
            raise DataMapError(
                f"{where}: table {name!r} has no erasure action (delete | anonymise | keep)"
            )
        if table.erasure.action == "delete":
            continue
        for col, spec in table.personal_data.items():
            if spec.erase is None:
                raise DataMapError(
                    f"{where}: table {name!r}, column {col!r}: personal data with no erase action "
                    f"(null | hash | placeholder | keep), but the table's rows are "
                    f"{table.erasure.action}d, not deleted"
                )
        # Opaque ids (user_id, cookie_id) may stay: they point at rows erasure empties. E-mail,
        # phone and name identify on their own and must be cleared from any row that is kept.
        for ident in table.identities:
            if ident.kind not in (EMAIL, PHONE, NAME):
                continue
            for col in ident.source_columns:
                if col not in table.personal_data and col != table.primary_key:
                    raise DataMapError(
                        f"{where}: table {name!r}, identity column {col!r} is not listed under "
                        "personal_data, so erasure would leave it in a kept row"
                    )


def validate_against(dm: DataMap, engine: Engine, *, database: str = "") -> None:
    """Check every table and column the map names exists in the live database."""
    label = f" (database {database})" if database else ""
    try:
        inspector = inspect(engine)
        live_tables = set(inspector.get_table_names())
    except Exception as exc:  # the database itself is missing or unreachable
        raise DataMapError(f"cannot open database{label}: {exc.__class__.__name__}: {exc}") from exc
    for name, table in dm.tables.items():
        if name not in live_tables:
            raise DataMapError(
                f"{dm.source_path}: table {name!r} is not in the database{label}; "
                f"it has: {', '.join(sorted(live_tables)) or 'no tables'}"
            )
        live_cols = {c["name"] for c in inspector.get_columns(name)}
        for col, why in table.columns_used():
            if col not in live_cols:
                raise DataMapError(
                    f"{dm.source_path}: table {name!r}, column {col!r} ({why}) is not in the "
                    f"database{label}"
                )
        if dm.tenants and dm.tenants.table == name:
            for col in (dm.tenants.id_column, dm.tenants.status_column):
                if col and col not in live_cols:
                    raise DataMapError(
                        f"{dm.source_path}: tenants: column {col!r} is not in table {name!r}{label}"
                    )
        if dm.integrations and dm.integrations.table == name:
            spec = dm.integrations
            for col in (
                spec.tenant_column,
                spec.kind_column,
                spec.account_column,
                spec.credential_column,
            ):
                if col not in live_cols:
                    raise DataMapError(
                        f"{dm.source_path}: integrations: column {col!r} is not in table "
                        f"{name!r}{label}"
                    )
        for ref in table.references:
            target_cols = {c["name"] for c in inspector.get_columns(ref.target_table)}
            if ref.target_column not in target_cols:
                raise DataMapError(
                    f"{dm.source_path}: table {name!r}, reference {ref.column!r} -> {ref.to!r}: "
                    f"column {ref.target_column!r} is not in table {ref.target_table!r}{label}"
                )
