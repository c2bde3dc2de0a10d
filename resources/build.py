"""Every resource of the code location, built from the settings (the only place they meet)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsr.settings import Settings
from resources.alerts import AlertsResource
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.exports import ExportStoreResource
from resources.integrations import IntegrationsResource
from resources.ledger import LedgerResource
from resources.proofs import ProofStoreResource
from resources.staging import EncryptedStagingIOManager, StagingArea

if TYPE_CHECKING:
    from dagster import ResourceDefinition


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


def bound_resources(settings: Settings) -> dict[str, ResourceDefinition]:
    """The resources with their values fixed from the environment and no config schema.

    A ConfigurableResource built with values still offers every field as editable run config
    (defaults pre-filled), so the Launchpad would show a ``resources:`` block in which support
    could point a run at another ledger or keys folder. Hard-coding the built instance keeps the
    values and leaves the run config to the form alone.
    """
    from dagster import IOManager, IOManagerDefinition, ResourceDefinition

    bound: dict[str, ResourceDefinition] = {}
    for key, value in build_resources(settings).items():
        bound[key] = (
            IOManagerDefinition.hardcoded_io_manager(value)
            if isinstance(value, IOManager)
            else ResourceDefinition.hardcoded_resource(value)
        )
    return bound
