"""Dagster resources: the only place configuration and secrets enter the pipelines.

Imported lazily (PEP 562): ``resources.engines`` and friends are plain modules a command line
that only reads can use without importing Dagster; the resource classes load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "AlertsResource": "resources.alerts",
    "BackupsResource": "resources.backups",
    "CrmDatabasesResource": "resources.crm",
    "EncryptedStagingIOManager": "resources.staging",
    "ExportStoreResource": "resources.exports",
    "IntegrationsResource": "resources.integrations",
    "LedgerResource": "resources.ledger",
    "ProofStoreResource": "resources.proofs",
    "StagingArea": "resources.staging",
    "build_resources": "resources.build",
    "bound_resources": "resources.build",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'resources' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)


__all__ = sorted(_WHERE)
