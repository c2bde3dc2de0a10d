"""Where export bundles are stored: one store per hosting region (EU data stays in the EU)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

# A bundle holding any EU data is stored in the EU store (policy section 14).
RESIDENCY_ORDER = ("eu",)


class ExportStoreResource(ConfigurableResource):
    dirs: dict[str, str] = Field(description="region -> folder where that region's bundles live")
    default_region: str = Field(default="us", description="Store used when no region has data")

    def dir_for(self, regions_with_data: Iterable[str]) -> tuple[str, Path]:
        found = set(regions_with_data)
        for region in RESIDENCY_ORDER:
            if region in found and region in self.dirs:
                return region, Path(self.dirs[region])
        region = self.default_region if self.default_region in self.dirs else next(iter(self.dirs))
        return region, Path(self.dirs[region])

    def all_dirs(self) -> list[Path]:
        return [Path(d) for d in self.dirs.values()]
