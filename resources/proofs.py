"""Where signed deletion proofs are kept: they hold no personal data and are kept for audit."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field


class ProofStoreResource(ConfigurableResource):
    proofs_dir: str = Field(description="Folder of signed deletion proofs")

    def folder(self) -> Path:
        path = Path(self.proofs_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path
