"""Every resource of the code location, built from the settings (the only place they meet)."""

from __future__ import annotations

from typing import Any

from dsr.settings import Settings
from resources.alerts import AlertsResource
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.exports import ExportStoreResource
from resources.integrations import IntegrationsResource
from resources.ledger import LedgerResource
from resources.proofs import ProofStoreResource
from resources.staging import EncryptedStagingIOManager, StagingArea


def build_resources(settings: Settings) -> dict[str, Any]:
    staging = StagingArea(staging_dir=str(settings.staging_dir), keys_dir=str(settings.keys_dir))
    return {
        "crm": CrmDatabasesResource(
            urls=dict(settings.crm_urls),
            datamap_path=str(settings.datamap_path),
            default_phone_region=settings.default_phone_region,
            physical_cleanup=settings.physical_cleanup,
        ),
        "ledger": LedgerResource(
            url=settings.ledger_url,
            keys_dir=str(settings.keys_dir),
            business_calendar=settings.business_calendar,
            checkpoints_dir=str(settings.proofs_dir),
        ),
        "exports": ExportStoreResource(
            dirs={r: str(p) for r, p in settings.export_dirs.items()},
            default_region=settings.regions[0],
        ),
        "proofs": ProofStoreResource(proofs_dir=str(settings.proofs_dir)),
        "backups": BackupsResource(
            backups_dir=str(settings.backups_dir),
            retention_days=settings.backup_retention_days,
            ledger_url=settings.ledger_url,
            keys_dir=str(settings.keys_dir),
            default_phone_region=settings.default_phone_region,
        ),
        "integrations": IntegrationsResource(
            credentials_dir=str(settings.credentials_dir),
            google_url=settings.google_url,
            gotomeeting_url=settings.gotomeeting_url,
            dropbox_ca_file=settings.dropbox_ca_file,
            rate_limits_dir=str(settings.rate_limits_dir),
        ),
        "alerts": AlertsResource(
            webhook_url=settings.alert_webhook_url, warn_days=settings.deadline_warn_days
        ),
        "staging": staging,
        "io_manager": EncryptedStagingIOManager(area=staging),
    }
