"""Breach impact as a Dagster job: privacy staff fill in tables and a window in the Launchpad.

The run answers "whose data was in these tables in that window" (``dsr.breach.model``) and writes
the notification report into the export store (EU data: the EU store). The report is the only
place the people appear: the run's config holds table names and dates, its logs and metadata
counts, the report's path and its SHA-256.
"""

from dagster import (
    Config,
    Definitions,
    Failure,
    MetadataValue,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from connectors.crm.datamap import DataMapError
from dsr.breach.run import run_breach_impact
from dsr.breach.window import BreachInputError, parse_query
from dsr.settings import Settings
from resources.backups import BackupsResource
from resources.crm import CrmDatabasesResource
from resources.exports import ExportStoreResource
from resources.ledger import LedgerResource


class BreachImpactConfig(Config):
    tables: list[str] = Field(
        description="Data-map tables the breach exposed, e.g. [contacts, notes]. Unknown names "
        "are refused with the list of valid tables."
    )
    since: str = Field(
        description="Window start: ISO date (2026-02-01) or date-time (2026-02-01T13:30+01:00); "
        "a time without a zone is UTC"
    )
    until: str = Field(
        description="Window end: ISO date (that whole day is included) or date-time (exclusive)"
    )
    regions: list[str] = Field(
        default_factory=list, description="Hosting regions to consider; empty means all"
    )


@op(description="Find the people whose data was in the tables during the window; write the report")
def breach_impact(
    context: OpExecutionContext,
    config: BreachImpactConfig,
    crm: CrmDatabasesResource,
    ledger: LedgerResource,
    exports: ExportStoreResource,
    backups: BackupsResource,
) -> None:
    try:
        query = parse_query(
            crm.datamap(),
            crm.regions,
            tables=config.tables,
            since=config.since,
            until=config.until,
            regions=config.regions or None,
        )
        connectors = [crm.connector(r) for r in query.regions]
        impact, files = run_breach_impact(
            connectors,
            query,
            ledger=ledger.ledger(),
            store_dir_for=lambda found: exports.dir_for(found)[1],
            backups=backups.store(),
            tombstones=backups.tombstones(),
        )
    except (BreachInputError, DataMapError) as exc:
        # Bad input: nothing was written, and the message says what to fix.
        raise Failure(description=f"breach query refused: {exc}") from None
    counts = impact.counts()
    context.log.info(
        f"{impact.breach_id}: {counts['people']} people affected ({counts['client_people']} in "
        f"{counts['clients_affected']} Clients' data, {counts['inextcrm_people']} iNextCRM's); "
        f"report sha256 {files.sha256}"
    )
    context.add_output_metadata(
        {
            "breach_id": impact.breach_id,
            "people": counts["people"],
            "clients_affected": counts["clients_affected"],
            "client_people": counts["client_people"],
            "inextcrm_people": counts["inextcrm_people"],
            "inextcrm_users": counts["inextcrm_users"],
            "not_contactable": counts["not_contactable"],
            "per_client": MetadataValue.json(counts["per_client"]),
            "rows": MetadataValue.json(counts["rows"]),
            "people_per_table": MetadataValue.json(counts["people_per_table"]),
            "untimed_tables": MetadataValue.json(counts["untimed_tables"]),
            "backups_in_window": MetadataValue.json(counts["backups_in_window"]),
            "erasures_since": counts["erasures_since"],
            "report_path": MetadataValue.path(str(files.json_path)),
            "report_sha256": files.sha256,
        }
    )


@job(
    executor_def=in_process_executor,
    description="Breach impact (policy 11): who was in these tables in that window, per Client "
    "and for iNextCRM, in a report in the export store; counts only in Dagster.",
)
def breach_impact_job() -> None:
    breach_impact()


def definitions(settings: Settings) -> Definitions:
    return Definitions(jobs=[breach_impact_job])
