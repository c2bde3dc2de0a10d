"""In which country a stored phone number without a country code is read, row by row.

``(212) 298-7664`` is a New York number in a US Client's contact and a Solingen number nowhere
unless written ``+49 212 2987664``: a national number means something only in a country. The
data map says which, most specific first:

1. the row's own country column (``phone_country_column`` of the table), where it holds a code;
2. the table's fixed country (``phone_country``);
3. the country of the Client whose tenant the row is in (``tenants.phone_country_column``);
4. the hosting region's country (``regions.<region>.phone_country``);
5. the operator's default (``DSR_PHONE_REGION``).

A number written with ``+`` or an international prefix is the same number in every country.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers
from sqlalchemy import column, select, table
from sqlalchemy.engine import Connection

from connectors.crm.datamap import DataMap

TenantCountries = Callable[[], Mapping[str, str]]


def _code(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


class PhoneCountries:
    """The reading country for rows of one regional database."""

    def __init__(
        self,
        datamap: DataMap,
        region: str,
        default: str,
        tenant_countries: TenantCountries | None = None,
    ) -> None:
        self.datamap = datamap
        spec = datamap.regions.get(region)
        self.region_country = (spec.phone_country if spec else None) or default.upper()
        self._tenant_countries = tenant_countries
        self._tenants: Mapping[str, str] | None = None
        self.by_tenant = bool(
            tenant_countries and datamap.tenants and datamap.tenants.phone_country_column
        )

    def row_columns(self, table: str) -> tuple[str, ...]:
        """The columns ``for_row`` reads: select them with any row whose phones are read."""
        tmap = self.datamap.tables[table]
        cols = []
        if tmap.phone_country_column:
            cols.append(tmap.phone_country_column)
        if self.by_tenant and tmap.tenant_column and not tmap.phone_country:
            cols.append(tmap.tenant_column)
        return tuple(cols)

    def for_row(self, table: str, row: Mapping[str, Any]) -> str:
        tmap = self.datamap.tables.get(table)
        if tmap is None:
            return self.region_country
        if tmap.phone_country_column and (own := _code(row.get(tmap.phone_country_column))):
            return own
        if tmap.phone_country:
            return tmap.phone_country
        if self.by_tenant and tmap.tenant_column:
            tenant = row.get(tmap.tenant_column)
            if tenant is not None and (found := self.tenants().get(str(tenant))):
                return found
        return self.region_country

    def for_tenant(self, tenant: str | None) -> str:
        """The country of a Client's connected services' numbers (no table, no row)."""
        if self.by_tenant and tenant is not None and (found := self.tenants().get(str(tenant))):
            return found
        return self.region_country

    def tenants(self) -> Mapping[str, str]:
        if self._tenants is None:
            assert self._tenant_countries is not None
            loaded = self._tenant_countries()
            self._tenants = {str(k): code for k, v in loaded.items() if (code := _code(v))}
        return self._tenants


def tenant_countries(conn: Connection, datamap: DataMap) -> dict[str, str]:
    """Client id -> its country, from the tenants table (empty if the map names no column)."""
    spec = datamap.tenants
    if spec is None or spec.phone_country_column is None:
        return {}
    # A lightweight table clause: no reflection (a backup scan reads an unreflected copy).
    clients = table(spec.table, column(spec.id_column), column(spec.phone_country_column))
    query = select(*clients.c)
    return {str(k): v for k, v in conn.execute(query) if v is not None}
