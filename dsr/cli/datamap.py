"""`dsr datamap check`: will this data map work on these databases, and will it be fast?

The same refusals every request makes before it touches a database
(``connectors.crm.datamap_checks``), on demand and for every region at once, plus the planner's
answer for every lookup discovery sends (``connectors.crm.datamap_indexes``) with the
``CREATE INDEX`` statements that fix a scan.
Exit 0: usable and indexed; 1: usable, but some lookup would read a whole table; 2: refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dsr.cli.output import console, emit_json, errors, fail
from dsr.settings import Settings

app = typer.Typer(help="Check a data map against the regional databases.", no_args_is_help=True)


@app.command("check")
def check(
    datamap: Annotated[
        Path | None,
        typer.Option(help="Data map file to check (default: DSR_DATAMAP, the demo map)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Refuse a map that cannot be applied (file, table, column and what to do) and report,
    per region, whether each lookup uses an index, with the CREATE INDEX statements that fix it."""
    from connectors.crm.datamap import DataMapError, load_datamap
    from connectors.crm.datamap_indexes import check_lookups
    from connectors.crm.sql import CrmSqlConnector
    from resources.engines import engine_for

    settings = Settings.from_env()
    path = datamap or settings.datamap_path
    try:
        dm = load_datamap(path)
    except DataMapError as exc:
        fail(str(exc), as_json=as_json)
    regions: list[dict[str, Any]] = []
    refused: list[str] = []
    for region, url in settings.crm_urls.items():
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            refused.append(f"region {region}: the database does not exist ({url}); `dsr seed`?")
            continue
        connector = CrmSqlConnector(
            region, engine_for(url), dm, default_phone_region=settings.default_phone_region
        )
        try:
            connector.validate()
        except DataMapError as exc:
            refused.append(str(exc))
            continue
        lookups = check_lookups(connector)
        regions.append({"region": region, "lookups": [_as_dict(lk) for lk in lookups]})
    scans = [lk for r in regions for lk in r["lookups"] if not lk["indexed"]]
    if as_json:
        emit_json(
            {
                "ok": not refused and not scans,
                "datamap": str(path),
                "refused": refused,
                "regions": regions,
                "create_index": sorted({lk["fix"] for lk in scans}),
            }
        )
    else:
        _print(str(path), regions, refused, scans)
    if refused:
        raise typer.Exit(2)
    if scans:
        raise typer.Exit(1)


def _as_dict(lookup: Any) -> dict[str, Any]:
    return {
        "table": lookup.table,
        "column": lookup.column,
        "why": lookup.why,
        "indexed": lookup.indexed,
        "plan": lookup.plan,
        "fix": lookup.fix,
    }


def _print(
    path: str, regions: list[dict[str, Any]], refused: list[str], scans: list[dict[str, Any]]
) -> None:
    for reason in refused:
        errors.print(f"[bold red]refused:[/] {reason}")
    for region in regions:
        table = Table(title=f"{path}: lookups in region {region['region']}")
        for column in ("table.column", "why", "index", "plan"):
            table.add_column(column)
        for lk in region["lookups"]:
            index = "[green]yes[/]" if lk["indexed"] else "[bold red]NO: full scan[/]"
            table.add_row(f"{lk['table']}.{lk['column']}", lk["why"], index, lk["plan"][:60])
        console.print(table)
    if scans:
        console.print(
            f"{len(scans)} lookup(s) would read the whole table on every request. "
            "Create these indexes:"
        )
        for fix in sorted({lk["fix"] for lk in scans}):
            console.print(fix, soft_wrap=True)
    elif regions and not refused:
        console.print("The data map fits every region and every lookup uses an index.")
