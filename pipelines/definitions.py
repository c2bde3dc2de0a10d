"""The code location: every asset, check, job and sensor, wired to resources from settings."""

from __future__ import annotations

from dagster import Definitions

from dsr.settings import Settings
from pipelines.assets.bundle import access_bundle_asset
from pipelines.assets.discovery import crm_findings_asset, subject_identities
from pipelines.checks import access_bundle_matches_manifest
from pipelines.intake import register_access_request_job
from pipelines.jobs import access_job
from pipelines.sensors import failed_runs_sensor, pending_requests_sensor
from resources import build_resources


def build_definitions(settings: Settings) -> Definitions:
    regions = list(settings.regions)
    fulfilment = access_job(settings.executor)
    return Definitions(
        assets=[
            subject_identities,
            *(crm_findings_asset(region) for region in regions),
            access_bundle_asset(regions),
        ],
        asset_checks=[access_bundle_matches_manifest],
        jobs=[fulfilment, register_access_request_job],
        sensors=[pending_requests_sensor(fulfilment), failed_runs_sensor(fulfilment)],
        resources=build_resources(settings),
    )


defs = build_definitions(Settings.from_env())
