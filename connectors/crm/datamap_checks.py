"""Checks of a data map against what uses it: a live database, and the needs of erasure.

``validate_against`` runs before any request touches a database (and ``dsr datamap check`` runs
it on demand). It refuses, naming the file, table and column and what to do, a map that could
not be applied as written:

* a table or column the database does not have;
* a ``primary_key`` that is neither the table's primary key nor one of its unique constraints or
  unique indexes (erasure deletes by it: a key that is not unique deletes bystanders), or a
  table with no unique key at all;
* a table without an erasure action, or a personal-data column of a kept or anonymised table
  without one;
* an action the column cannot hold: ``null`` (or ``placeholder`` on a non-text column, which
  writes NULL) on a NOT NULL column, a placeholder or keyed hash longer than the column, ``hash``
  on a non-text column;
* a row kept (``keep`` or ``anonymise``) that would point at a row erasure deletes: through a
  data-map reference or a real foreign key, unless the pointer is cleared (``erase: "null"``) or
  the foreign key says ``ON DELETE SET NULL``;
* a foreign key into a deleted table that the map does not declare as a reference: the delete
  would be blocked, or (``ON DELETE CASCADE``) remove rows no proof counts.
* a ``suppression``, ``restriction``, ``minors`` check or rectifiable ``field`` on a table whose
  primary key holds personal data (an e-mail, phone or name): the ledger's audit names the rows
  these change by their key.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from sqlalchemy import String, inspect
from sqlalchemy.engine import Engine, Inspector
from sqlalchemy.exc import SAWarning

from connectors.crm.datamap import DataMap, DataMapError, TableMap

# What erasure writes (``dsr.erasure.crm.CrmEraser`` defaults): the checks size them.
DEFAULT_PLACEHOLDER = "[erased]"
KEYED_HASH_LENGTH = 64  # HMAC-SHA256 in hex (dsr.keys.KeyRing.keyed_hash)


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
        for col in table.identifying_columns:
            spec = table.personal_data.get(col)
            if col in table.key_columns and (spec is None or spec.erase != "hash"):
                # A keyed hash keeps the key unique (and joinable); NULL or a placeholder
                # could not, and keeping it keeps the person.
                raise DataMapError(
                    f"{where}: table {name!r}, identity column {col!r} is part of the "
                    f"primary key of a table whose rows are {table.erasure.action}d: give it "
                    "erase: hash (the only action that keeps a key unique), delete these "
                    "rows, or key the table by something that does not identify the person"
                )
            if spec is None or spec.erase == "keep":
                why = "is not listed under personal_data" if spec is None else "has erase: keep"
                raise DataMapError(
                    f"{where}: table {name!r}, identity column {col!r} {why}, so erasure "
                    "would leave it in a kept row: give it null, placeholder or hash"
                )


def check_rows_named_safely(dm: DataMap) -> None:
    """The ledger names by primary key the rows an opt-out, a restriction, a rectification or
    the minors check changed or found, in audit entries it keeps for good. A key that holds an
    e-mail, phone or name (or any column the map calls personal data) would put the person into
    that record: the ledger refuses an e-mail there, after the changes committed, and would keep
    a phone or a name. So such a map is refused before anything runs."""
    for name, table in dm.tables.items():
        personal = set(table.identifying_columns) | set(table.personal_data)
        identifying = [col for col in table.key_columns if col in personal]
        if not identifying:
            continue
        uses = [use for use in ("suppression", "restriction", "minors") if getattr(table, use)]
        fields = dict.fromkeys(spec.field for spec in table.personal_data.values() if spec.field)
        uses += [f"field {field}" for field in fields if field]
        if uses:
            raise DataMapError(
                f"{dm.source_path}: table {name!r}: its primary key includes "
                f"{', '.join(map(repr, identifying))}, which is personal data, and "
                f"{' and '.join(uses)} would write that key into the ledger's audit, which is "
                "kept for good: key the table by something that does not identify the person, "
                f"or remove {'them' if len(uses) > 1 else 'it'} from the table"
            )


def column_action_problem(
    action: str,
    sql_type: Any,
    nullable: bool,
    *,
    placeholder: str = DEFAULT_PLACEHOLDER,
    hash_length: int = KEYED_HASH_LENGTH,
) -> str:
    """Why a column cannot take an erase action, or "" when it can."""
    is_text = isinstance(sql_type, String)
    length = getattr(sql_type, "length", None) if is_text else None
    becomes_null = action == "null" or (action == "placeholder" and not is_text)
    if action == "hash" and not is_text:
        return "'hash' writes a keyed hash (text), but the column is not a text column"
    if becomes_null and not nullable:
        what = "'null'" if action == "null" else "'placeholder' on a non-text column (NULL)"
        return f"{what} would write NULL, but the column is NOT NULL: use 'placeholder' or 'hash'"
    if action == "placeholder" and length and len(placeholder) > length:
        return f"the placeholder {placeholder!r} is longer than the column ({length})"
    if action == "hash" and length and hash_length > length:
        return f"a keyed hash ({hash_length} characters) is longer than the column ({length})"
    return ""


def _erase_actions(tmap: TableMap) -> dict[str, str]:
    """column -> what erasure writes there, for a table whose rows stay."""
    actions = {col: spec.erase or "keep" for col, spec in tmap.personal_data.items()}
    for col in tmap.free_text:
        if actions.get(col, "keep") == "keep":
            actions[col] = "redact"
    return actions


def _action(dm: DataMap, table: str) -> str | None:
    tmap = dm.tables.get(table)
    return tmap.erasure.action if tmap and tmap.erasure else None


class _Live:
    """What the checks need to know of one database, read once through one inspector."""

    def __init__(self, dm: DataMap, inspector: Inspector, label: str) -> None:
        self.dm, self.inspector, self.label = dm, inspector, label
        self.where = dm.source_path

    def columns(self, table: str) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.inspector.get_columns(table)}

    def unique_keys(self, table: str) -> list[tuple[str, ...]]:
        keys: list[tuple[str, ...]] = []
        with warnings.catch_warnings():
            # Expression indexes (the lookups' own) cannot be reflected and are not keys anyway.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
            return self._unique_keys(table, keys)

    def _unique_keys(self, table: str, keys: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        pk = self.inspector.get_pk_constraint(table).get("constrained_columns") or []
        if pk:
            keys.append(tuple(pk))
        for uc in self.inspector.get_unique_constraints(table):
            keys.append(tuple(uc["column_names"]))
        for ix in self.inspector.get_indexes(table):
            names = ix.get("column_names") or []
            # An expression in a unique index (None among the names) is not a plain key.
            if ix.get("unique") and names and all(names):
                keys.append(tuple(names))
        return keys

    def foreign_keys(self, table: str) -> list[dict[str, Any]]:
        return self.inspector.get_foreign_keys(table)

    def refuse(self, message: str) -> DataMapError:
        return DataMapError(f"{self.where}: {message}{self.label}")


def _check_key(live: _Live, name: str, tmap: TableMap) -> None:
    declared = tmap.key_columns
    keys = live.unique_keys(name)
    if any(set(k) == set(declared) for k in keys):
        return
    shown = f"[{', '.join(declared)}]" if len(declared) > 1 else repr(declared[0])
    if not keys:
        raise live.refuse(
            f"table {name!r} has no primary key or unique constraint, so its rows cannot be told "
            "apart and an erasure could delete someone else's: add one (ALTER TABLE … ADD PRIMARY "
            "KEY (…), or a UNIQUE index) and name its columns as primary_key"
        )
    options = " or ".join(f"[{', '.join(k)}]" for k in dict.fromkeys(keys))
    raise live.refuse(
        f"table {name!r}: primary_key {shown} is neither the table's primary key nor a unique "
        f"constraint, so it may name several rows and an erasure would delete them all; use "
        f"{options} (a list for a composite key)"
    )


def _check_actions(live: _Live, name: str, tmap: TableMap, cols: dict[str, dict[str, Any]]) -> None:
    if tmap.erasure is None or tmap.erasure.action == "delete":
        return
    for col, action in _erase_actions(tmap).items():
        info = cols[col]
        problem = column_action_problem(action, info["type"], bool(info.get("nullable", True)))
        if problem:
            raise live.refuse(f"table {name!r}, column {col!r}: {problem}")


def _pointer_cleared(tmap: TableMap, columns: Iterable[str]) -> bool:
    return all(
        (spec := tmap.personal_data.get(c)) is not None and spec.erase == "null" for c in columns
    )


def _check_kept_pointers(live: _Live, name: str, tmap: TableMap) -> None:
    """A row that stays must not point at a row that goes."""
    action = _action(live.dm, name)
    if action is None:
        return
    for ref in tmap.references:
        target = _action(live.dm, ref.target_table)
        if action == "delete" or target != "delete" or _pointer_cleared(tmap, [ref.column]):
            continue
        if _fk_sets_null(live, name, [ref.column], ref.target_table):
            continue
        raise live.refuse(
            f"table {name!r} is {_past(action)} on erasure, but its column {ref.column!r} points "
            f"at {ref.to}, which erasure deletes: the row would be left pointing at nothing (or "
            f"the database refuses the delete). Clear the pointer ({ref.column}: {{category: …, "
            f'erase: "null"}} under personal_data), declare the foreign key ON DELETE SET NULL, '
            f"or keep {ref.target_table} too"
        )


def _reachable(dm: DataMap, table: str) -> bool:
    """Whether a person's erasure can reach rows of ``table`` (not only a tenant purge)."""
    tmap = dm.tables[table]
    if any(i.matches for i in tmap.identities) or any(
        r.direction == "child" for r in tmap.references
    ):
        return True
    return any(
        r.direction == "parent" and r.target_table == table for _, r in dm.child_references()
    )


def _check_foreign_keys(live: _Live, name: str, tmap: TableMap | None) -> None:
    """Every real foreign key into a table erasure deletes is one the erasure can follow."""
    for fk in live.foreign_keys(name):
        target, cols = fk["referred_table"], list(fk["constrained_columns"])
        if _action(live.dm, target) != "delete" or target == name:
            continue
        ondelete = str((fk.get("options") or {}).get("ondelete") or "").upper()
        if ondelete == "SET NULL":
            continue
        if tmap is not None and _action(live.dm, name) != "delete":
            continue  # a kept row's pointers: _check_kept_pointers (declared) or below
        declared = tmap is not None and any(
            r.target_table == target and r.column in cols for r in tmap.references
        )
        # A parent no person's erasure reaches (a meeting, shared by its attendees) goes only
        # with its whole tenant, where every mapped row goes too, dependants first.
        if declared or (tmap is not None and not _reachable(live.dm, target)):
            continue
        cascade = " (ON DELETE CASCADE would delete rows no proof counts)" if ondelete else ""
        raise live.refuse(
            f"table {name!r} has a foreign key ({', '.join(cols)}) -> {target!r}, a table "
            f"erasure deletes, that the data map does not declare as a reference{cascade}: "
            f"the delete would be blocked. Declare it under {name}.references (and map "
            f"{name} if it is not), or make the key ON DELETE SET NULL"
        )


def _check_kept_foreign_keys(live: _Live, name: str, tmap: TableMap) -> None:
    """A kept row's real foreign key into a deleted table must be cleared or SET NULL."""
    for fk in live.foreign_keys(name):
        target, cols = fk["referred_table"], list(fk["constrained_columns"])
        if _action(live.dm, target) != "delete" or target == name:
            continue
        ondelete = str((fk.get("options") or {}).get("ondelete") or "").upper()
        if ondelete == "SET NULL" or _pointer_cleared(tmap, cols):
            continue
        raise live.refuse(
            f"table {name!r} is {_past(_action(live.dm, name) or '')} on erasure, but its "
            f"foreign key ({', '.join(cols)}) -> {target!r} points at rows erasure deletes: "
            f'the database would refuse the delete. Clear the pointer (erase: "null" under '
            f"personal_data), declare the key ON DELETE SET NULL, or keep {target} too"
        )


def _fk_sets_null(live: _Live, table: str, cols: list[str], target: str) -> bool:
    for fk in live.foreign_keys(table):
        if fk["referred_table"] == target and set(cols) <= set(fk["constrained_columns"]):
            return str((fk.get("options") or {}).get("ondelete") or "").upper() == "SET NULL"
    return False


def _past(action: str) -> str:
    return {"keep": "kept", "anonymise": "anonymised (kept)"}.get(action, action)


def validate_against(dm: DataMap, engine: Engine, *, database: str = "") -> None:
    """Refuse a map this database cannot be searched or erased through (see the docstring)."""
    label = f" (database {database})" if database else ""
    try:
        inspector = inspect(engine)
        live_tables = set(inspector.get_table_names())
    except Exception as exc:  # the database itself is missing or unreachable
        raise DataMapError(f"cannot open database{label}: {exc.__class__.__name__}: {exc}") from exc
    live = _Live(dm, inspector, label)
    for name, table in dm.tables.items():
        if name not in live_tables:
            raise DataMapError(
                f"{dm.source_path}: table {name!r} is not in the database{label}; "
                f"it has: {', '.join(sorted(live_tables)) or 'no tables'}"
            )
        cols = live.columns(name)
        for col, why in table.columns_used():
            if col not in cols:
                raise DataMapError(
                    f"{dm.source_path}: table {name!r}, column {col!r} ({why}) is not in the "
                    f"database{label}"
                )
        _check_account_columns(dm, name, set(cols), label)
        for ref in table.references:
            target_cols = {c["name"] for c in inspector.get_columns(ref.target_table)}
            if ref.target_column not in target_cols:
                raise DataMapError(
                    f"{dm.source_path}: table {name!r}, reference {ref.column!r} -> {ref.to!r}: "
                    f"column {ref.target_column!r} is not in table {ref.target_table!r}{label}"
                )
        _check_key(live, name, table)
    check_erasure_complete(dm)
    check_rows_named_safely(dm)
    for name, table in dm.tables.items():
        _check_actions(live, name, table, live.columns(name))
        _check_kept_pointers(live, name, table)
        if _action(dm, name) in ("keep", "anonymise"):
            _check_kept_foreign_keys(live, name, table)
    for name in sorted(live_tables):
        _check_foreign_keys(live, name, dm.tables.get(name))


def _check_account_columns(dm: DataMap, name: str, live_cols: set[str], label: str) -> None:
    if dm.tenants and dm.tenants.table == name:
        spec = dm.tenants
        for col in (spec.id_column, spec.status_column, spec.phone_country_column):
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
