"""Step outputs between Dagster steps, encrypted, outside Dagster's own storage.

Findings hold personal data; Dagster's default IO manager would pickle them into DAGSTER_HOME in
the clear. This one encrypts them with the data key and keeps them under the staging folder, per
request, so the bundle step can delete them when it is done.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

from dagster import ConfigurableIOManager, ConfigurableResource, InputContext, OutputContext
from pydantic import Field

from dsr.keys import KeyRing


class StagingArea(ConfigurableResource):
    """Per-request folder of encrypted intermediate results."""

    staging_dir: str = Field(description="Folder for encrypted intermediate findings")
    keys_dir: str = Field(description="Folder of the data key")

    def path(self, request_id: str, name: str) -> Path:
        return Path(self.staging_dir) / request_id / f"{name}.bin"

    def write(self, path: Path, obj: object) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(KeyRing(Path(self.keys_dir)).encrypt(pickle.dumps(obj)))
        tmp.replace(path)

    def read(self, path: Path) -> object:
        # Only files encrypted with our data key are unpickled: the key authenticates them.
        return pickle.loads(KeyRing(Path(self.keys_dir)).decrypt(path.read_bytes()))

    def clear(self, request_id: str) -> None:
        shutil.rmtree(Path(self.staging_dir) / request_id, ignore_errors=True)


class EncryptedStagingIOManager(ConfigurableIOManager):
    area: StagingArea

    def _path(self, context: OutputContext | InputContext) -> Path:
        key = context.partition_key if context.has_partition_key else "_unpartitioned"
        return self.area.path(key, "__".join(context.asset_key.path))

    def handle_output(self, context: OutputContext, obj: object) -> None:
        if obj is not None:
            self.area.write(self._path(context), obj)

    def load_input(self, context: InputContext) -> object:
        path = self._path(context)
        if not path.exists():
            raise FileNotFoundError(
                f"staged output {context.asset_key.to_user_string()} for {context.partition_key} "
                "is gone (the request finished or was cleaned up): re-run the whole request"
            )
        return self.area.read(path)
