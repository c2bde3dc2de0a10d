"""The data map: what an operator declares about a SQL schema, so no code knows table names.

The format, every key and every erase action is documented in ``docs/datamap.md``;
``dsr/democrm/inextcrm.datamap.yaml`` is a complete, commented example. This module models the
file (pydantic, unknown keys are errors) and ``load_datamap`` checks that its parts refer to each
other (a reference cycle, a client table with identities but no tenant column).
``datamap_checks.validate_against`` checks it against a live database (tables, columns, keys,
erase actions, kept rows under deleted ones) and ``datamap_indexes`` asks the planner whether
each lookup uses an index. Errors name the file, table and column. The account-level sections
(controller, policy, regions, tenants, integrations, accounts) are modelled in
``datamap_accounts``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from connectors.base import EMAIL, NAME, PHONE
from connectors.crm.datamap_accounts import (
    Accounts,
    AccountTable,
    Controller,
    IntegrationTable,
    Policy,
    Region,
    Strict,
    TenantTable,
    check_country,
)


class DataMapError(ValueError):
    """The data map does not describe the schema it is applied to."""


class IdentityColumn(Strict):
    column: str | None = None
    columns: tuple[str, ...] | None = None
    kind: str
    match: bool | None = None
    harvest: bool = True

    @model_validator(mode="after")
    def _one_of_column_or_columns(self) -> IdentityColumn:
        if bool(self.column) == bool(self.columns):
            raise ValueError("give exactly one of 'column' or 'columns'")
        if self.columns and self.kind != NAME:
            raise ValueError("'columns' (joined with spaces) is only for kind 'name'")
        return self

    @property
    def source_columns(self) -> tuple[str, ...]:
        return self.columns or (self.column,)  # type: ignore[return-value]

    @property
    def matches(self) -> bool:
        # A name never finds rows on its own: it would sweep in namesakes.
        return self.match if self.match is not None else self.kind != NAME

    @property
    def label(self) -> str:
        return "+".join(self.source_columns)


EraseAction = Literal["null", "hash", "placeholder", "keep"]


class PersonalColumn(Strict):
    category: str
    purpose: str | None = None
    erase: EraseAction | None = None
    # A logical field name ("phone", "last_name") makes the column rectifiable: a rectification
    # of that field corrects every column carrying the name, in every table and region.
    field: str | None = None


class Reference(Strict):
    column: str
    to: str = Field(description="table.column this column points at")
    direction: Literal["child", "parent"] = "child"

    @property
    def target_table(self) -> str:
        return self.to.split(".", 1)[0]

    @property
    def target_column(self) -> str:
        return self.to.split(".", 1)[1]

    @model_validator(mode="after")
    def _qualified(self) -> Reference:
        if self.to.count(".") != 1:
            raise ValueError(f"'to' must be table.column, got {self.to!r}")
        return self


class TableErasure(Strict):
    action: Literal["delete", "anonymise", "keep"]
    legal_basis: str | None = None
    retain_for: str | None = None
    retain_from: str | None = None

    @model_validator(mode="after")
    def _keep_needs_basis(self) -> TableErasure:
        if self.action == "keep" and not (self.legal_basis and self.retain_for):
            raise ValueError("action 'keep' needs 'legal_basis' and 'retain_for'")
        return self


class FileColumns(Strict):
    """A table that stores files: which column holds the bytes and which the file name."""

    content: str
    filename: str


class FlagAction(Strict):
    """Columns an opt-out or a restriction sets on the person's rows (``now``: the time)."""

    set: dict[str, bool | int | str] = Field(min_length=1)


class MinorsCheck(Strict):
    """Where a table keeps a person's birth date and a parental consent (policy 10)."""

    birth_date: str
    parental_consent: str
    age_of_majority: int = Field(default=18, ge=1, le=30)


class TableMap(Strict):
    description: str = ""
    controller: Literal["client", "inextcrm"]
    tenant_column: str | None = None
    # One column, or a list for a composite key; checked against the live schema's primary key
    # and unique constraints (``datamap_checks``), because erasure deletes by it.
    primary_key: str | tuple[str, ...] = "id"
    purpose: str = ""
    legal_basis: str = ""
    retention: str = ""
    source: str = ""
    recipients: tuple[str, ...] = ()
    identities: tuple[IdentityColumn, ...] = ()
    personal_data: dict[str, PersonalColumn] = Field(default_factory=dict)
    free_text: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    erasure: TableErasure | None = None
    files: FileColumns | None = None
    suppression: FlagAction | None = None
    restriction: FlagAction | None = None
    minors: MinorsCheck | None = None
    # When a row came to be (a date or timestamp column): lets a breach window be applied without
    # code knowing column names. A table without one counts all its rows as present in any window.
    recorded_at: str | None = None
    # The country a phone number written without a country code is read in: a fixed ISO code
    # for the whole table, or a column holding each row's country (which wins where it is set).
    phone_country: str | None = None
    phone_country_column: str | None = None

    @field_validator("primary_key")
    @classmethod
    def _key_not_empty(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        columns = (value,) if isinstance(value, str) else value
        if not columns or len(set(columns)) != len(columns) or not all(columns):
            raise ValueError("primary_key must name one column or a list of distinct columns")
        return value

    @field_validator("phone_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        return check_country(value)

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.primary_key,) if isinstance(self.primary_key, str) else self.primary_key

    @property
    def identifying_columns(self) -> dict[str, str]:
        """Column -> kind of the e-mail, phone and name columns: they identify a person on their
        own, where an opaque id (user_id, cookie_id) only points at rows."""
        return {
            col: ident.kind
            for ident in self.identities
            if ident.kind in (EMAIL, PHONE, NAME)
            for col in ident.source_columns
        }

    def columns_used(self) -> Iterable[tuple[str, str]]:
        """(column, why) for every column the map names in this table."""
        for col in self.key_columns:
            yield col, "primary_key"
        if self.tenant_column:
            yield self.tenant_column, "tenant_column"
        for ident in self.identities:
            for col in ident.source_columns:
                yield col, f"identities ({ident.kind})"
        for col in self.personal_data:
            yield col, "personal_data"
        for col in self.free_text:
            yield col, "free_text"
        for ref in self.references:
            yield ref.column, "references"
        if self.files:
            yield self.files.content, "files.content"
            yield self.files.filename, "files.filename"
        for key in ("suppression", "restriction"):
            action: FlagAction | None = getattr(self, key)
            for col in action.set if action else ():
                yield col, key
        if self.minors:
            yield self.minors.birth_date, "minors.birth_date"
            yield self.minors.parental_consent, "minors.parental_consent"
        if self.recorded_at:
            yield self.recorded_at, "recorded_at"
        if self.phone_country_column:
            yield self.phone_country_column, "phone_country_column"


class DataMap(Strict):
    name: str
    description: str = ""
    controller: Controller
    policy: Policy = Field(default_factory=Policy)
    rights: tuple[str, ...] = ()
    regions: dict[str, Region] = Field(default_factory=dict)
    tenants: TenantTable | None = None
    integrations: IntegrationTable | None = None
    accounts: Accounts | None = None
    tables: dict[str, TableMap]
    source_path: str = ""

    @field_validator("regions", mode="before")
    @classmethod
    def _region_shorthand(cls, value: object) -> object:
        # ``us: United States`` is shorthand for ``us: {name: United States}``.
        if isinstance(value, dict):
            return {k: {"name": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    def region_name(self, region: str) -> str:
        spec = self.regions.get(region)
        return spec.name if spec else region

    def identity_kinds(self) -> set[str]:
        return {i.kind for t in self.tables.values() for i in t.identities}

    def child_references(self) -> list[tuple[str, Reference]]:
        return [(name, ref) for name, t in self.tables.items() for ref in t.references]

    def traversal_order(self) -> list[str]:
        """Tables ordered so that every owner comes before the rows that depend on it."""
        deps: dict[str, set[str]] = {name: set() for name in self.tables}
        for name, ref in self.child_references():
            owner, dependent = (
                (ref.target_table, name) if ref.direction == "child" else (name, ref.target_table)
            )
            if owner != dependent:
                deps[dependent].add(owner)
        order: list[str] = []
        done: set[str] = set()
        visiting: list[str] = []

        def visit(table: str) -> None:
            if table in done:
                return
            if table in visiting:
                cycle = [*visiting[visiting.index(table) :], table]
                raise DataMapError(
                    f"{self.source_path}: references form a cycle the traversal cannot order: "
                    + " -> ".join(cycle)
                )
            visiting.append(table)
            for owner in sorted(deps[table]):
                visit(owner)
            visiting.pop()
            done.add(table)
            order.append(table)

        for table in sorted(self.tables):
            visit(table)
        return order


def _where(path: str | Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        lines.append(f"{path}: {loc}: {e['msg']}")
    return "\n".join(lines)


def load_datamap(path: str | Path) -> DataMap:
    """Read and shape-check a data map file; raises ``DataMapError`` naming the file and key."""
    path = Path(path)
    if not path.is_file():
        raise DataMapError(f"{path}: data map file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataMapError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataMapError(f"{path}: expected a mapping at the top level")
    try:
        dm = DataMap.model_validate({**raw, "source_path": str(path)})
    except ValidationError as exc:
        raise DataMapError(_where(path, exc)) from None
    _check_internal(dm)
    return dm


def _check_internal(dm: DataMap) -> None:
    where = dm.source_path
    for name, table in dm.tables.items():
        for ref in table.references:
            if ref.target_table not in dm.tables:
                raise DataMapError(
                    f"{where}: table {name!r}, reference on column {ref.column!r} points at "
                    f"table {ref.target_table!r}, which the data map does not declare"
                )
        has_matching_identity = any(i.matches for i in table.identities)
        if table.controller == "client" and has_matching_identity and not table.tenant_column:
            raise DataMapError(
                f"{where}: table {name!r} holds Client Data with identity columns but names no "
                "tenant_column: a client_data request could not be kept inside its tenant"
            )
        if table.minors and not any(i.kind == EMAIL and i.matches for i in table.identities):
            raise DataMapError(
                f"{where}: table {name!r} has a minors check but no matching e-mail identity "
                "column: the erasure it registers could not name the person"
            )
    if dm.integrations and dm.integrations.table not in dm.tables:
        raise DataMapError(
            f"{where}: integrations.table {dm.integrations.table!r} is not a declared table"
        )
    if dm.tenants and dm.tenants.table not in dm.tables:
        raise DataMapError(f"{where}: tenants.table {dm.tenants.table!r} is not a declared table")
    for kind, account in (dm.accounts or Accounts()).model_dump(exclude_none=True).items():
        if account["table"] not in dm.tables:
            raise DataMapError(
                f"{where}: accounts.{kind}.table {account['table']!r} is not a declared table"
            )
    user = dm.accounts.user if dm.accounts else None
    if user and not any(i.matches for i in dm.tables[user.table].identities):
        raise DataMapError(
            f"{where}: accounts.user.table {user.table!r} declares no identity column to erase "
            "a closed account's holder by"
        )
    if not any(i.matches for t in dm.tables.values() for i in t.identities):
        raise DataMapError(f"{where}: no table declares an identity column that can be matched")
    dm.traversal_order()


__all__ = [
    "EMAIL",
    "NAME",
    "PHONE",
    "AccountTable",
    "Accounts",
    "DataMap",
    "DataMapError",
    "FlagAction",
    "IdentityColumn",
    "MinorsCheck",
    "PersonalColumn",
    "Reference",
    "TableMap",
    "load_datamap",
]
