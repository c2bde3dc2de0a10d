"""Hands out one CRM connector per region, built from URLs and the data map path."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from connectors.crm.datamap import DataMap, DataMapError, load_datamap
from connectors.crm.sql import CrmSqlConnector
from resources.engines import engine_for


@lru_cache(maxsize=16)
def _datamap(path: str, mtime_ns: int) -> DataMap:
    # Parsed once per file version per process: each step and sensor tick asks for it.
    return load_datamap(path)


class CrmDatabasesResource(ConfigurableResource):
    """The regional CRM databases (one per hosting region, same schema, one data map)."""

    urls: dict[str, str] = Field(description="region -> SQLAlchemy database URL")
    datamap_path: str = Field(description="Path of the data map YAML describing the schema")
    default_phone_region: str = Field(
        default="US", description="Country assumed for phone numbers written without one"
    )
    physical_cleanup: str = Field(
        default="vacuum_full",
        description="After an erasure: vacuum_full | vacuum | none (PostgreSQL VACUUM of the "
        "touched tables; SQLite always checkpoints its WAL, secure_delete is always on)",
    )

    @property
    def regions(self) -> list[str]:
        return list(self.urls)

    def datamap(self) -> DataMap:
        path = Path(self.datamap_path)
        stat = path.stat() if path.exists() else None
        return _datamap(str(path), stat.st_mtime_ns if stat else 0)

    def connector(self, region: str) -> CrmSqlConnector:
        if region not in self.urls:
            raise KeyError(f"no CRM database configured for region {region!r}")
        url = self.urls[region]
        # SQLite would quietly create an empty file and report the person absent: refuse instead.
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            raise DataMapError(
                f"the CRM database of region {region!r} does not exist "
                f"({url.removeprefix('sqlite:///')}); set DSR_CRM_URL_{region.upper()} or run "
                "`dsr seed`"
            )
        return CrmSqlConnector(
            region,
            engine_for(url),
            self.datamap(),
            default_phone_region=self.default_phone_region,
        )

    def connectors(self) -> list[CrmSqlConnector]:
        return [self.connector(region) for region in self.urls]
