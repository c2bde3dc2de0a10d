"""Step outputs between Dagster steps, encrypted, outside Dagster's own storage.

Findings hold personal data; Dagster's default IO manager would pickle them into DAGSTER_HOME in
the clear. This one encrypts them with the data key and keeps them under the staging folder, per
request, so the bundle step can delete them when it is done.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import Field

from dsr.keys import KeyRing


class EncryptedStagingIOManager(ConfigurableIOManager):
    staging_dir: str = Field(description="Folder for encrypted intermediate findings")
    keys_dir: str = Field(description="Folder of the data key")

    def _path(self, context: OutputContext | InputContext) -> Path:
        key = context.partition_key if context.has_partition_key else "_unpartitioned"
        return Path(self.staging_dir) / key / ("__".join(context.asset_key.path) + ".bin")

    def handle_output(self, context: OutputContext, obj: object) -> None:
        if obj is None:
            return
        path = self._path(context)
        path.parent.mkdir(parents=True, exist_ok=True)
        token = KeyRing(Path(self.keys_dir)).encrypt(pickle.dumps(obj))
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(token)
        tmp.replace(path)

    def load_input(self, context: InputContext) -> object:
        path = self._path(context)
        if not path.exists():
            raise FileNotFoundError(
                f"staged output {context.asset_key.to_user_string()} for {context.partition_key} "
                "is gone (the request finished or was cleaned up): re-run the whole request"
            )
        # Only this process's own encrypted files are unpickled: the data key authenticates them.
        return pickle.loads(KeyRing(Path(self.keys_dir)).decrypt(path.read_bytes()))


def clear_staging(staging_dir: str | Path, request_id: str) -> None:
    shutil.rmtree(Path(staging_dir) / request_id, ignore_errors=True)
