"""The code location: every asset, check, job and sensor, wired to resources from settings."""

from dagster import Definitions

from dsr.settings import Settings
from pipelines import breach, cleanup_sweep, deadlines, intake_purge, lift, minors, retention
from pipelines.assets.bundle import access_bundle_asset
from pipelines.assets.discovery import crm_findings_asset, subject_identities_asset
from pipelines.assets.erasure import crm_erasure_asset, deletion_proof_asset
from pipelines.assets.flags import flag_assets
from pipelines.assets.rectification import crm_rectification_asset, rectification_record_asset
from pipelines.assets.services import service_erasure_asset, service_findings_asset
from pipelines.backups import (
    backup_job,
    backup_schedule,
    crm_backup_asset,
    expire_backups_job,
    expire_backups_schedule,
)
from pipelines.batch_access import access_batch_job
from pipelines.batch_erasure import erasure_batch_job
from pipelines.checks import access_bundle_matches_manifest
from pipelines.intake import INTAKE_JOB_DEFS
from pipelines.intake_list import register_request_list_job
from pipelines.jobs import request_jobs
from pipelines.partitions import REQUEST_GROUPS
from pipelines.run_queue import system_tags
from pipelines.sensors import failed_runs_sensor, pending_requests_sensor
from resources import bound_resources
from resources.integrations import SERVICES


def build_definitions(settings: Settings) -> Definitions:
    regions = list(settings.regions)
    fulfilment = request_jobs(settings.executor)
    backups = backup_job()
    core = Definitions(
        assets=[
            *(subject_identities_asset(group) for group in REQUEST_GROUPS),
            *(crm_findings_asset(region) for region in regions),
            *(service_findings_asset(service) for service in SERVICES),
            access_bundle_asset(regions, SERVICES),
            *(crm_erasure_asset(region) for region in regions),
            *(service_erasure_asset(service) for service in SERVICES),
            deletion_proof_asset(regions, SERVICES),
            *(crm_rectification_asset(region) for region in regions),
            rectification_record_asset(regions),
            *(crm_backup_asset(region) for region in regions),
            *flag_assets(regions),
        ],
        asset_checks=[access_bundle_matches_manifest],
        jobs=[
            *fulfilment,
            access_batch_job,
            erasure_batch_job,
            *INTAKE_JOB_DEFS,
            register_request_list_job,
            backups,
            expire_backups_job,
        ],
        schedules=[backup_schedule(backups), expire_backups_schedule],
        sensors=[
            pending_requests_sensor(
                fulfilment,
                [access_batch_job, erasure_batch_job],
                settings.batch_size,
                system_tags(settings.regions),
            ),
            failed_runs_sensor(fulfilment, [access_batch_job, erasure_batch_job]),
        ],
        resources=bound_resources(settings),
    )
    # Each time-based promise is its own module; resources come only from the core set.
    extras = [
        m.definitions(settings)
        for m in (retention, minors, deadlines, breach, lift, cleanup_sweep, intake_purge)
    ]
    return Definitions.merge(core, *extras)


defs = build_definitions(Settings.from_env())
