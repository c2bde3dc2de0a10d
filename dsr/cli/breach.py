"""`dsr breach-impact`: whose data was in these tables in that window, per Client and iNextCRM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from dsr.cli.output import console, emit_json, errors, fail

Tables = Annotated[
    list[str],
    typer.Option("--tables", "-t", help="Data-map tables the breach exposed (comma-separated)"),
]
Since = Annotated[str, typer.Option(help="Window start: ISO date or date-time (UTC if no zone)")]
Until = Annotated[str, typer.Option(help="Window end: ISO date (whole day) or date-time")]
Regions = Annotated[
    list[str] | None, typer.Option("--regions", help="Regions to consider (default: all)")
]
Out = Annotated[
    Path | None,
    typer.Option(help="Folder for the report (default: the region's export store)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def breach_impact(
    tables: Tables,
    since: Since,
    until: Until,
    regions: Regions = None,
    out: Out = None,
    as_json: JsonOpt = False,
) -> None:
    """List the people whose data was in TABLES between SINCE and UNTIL, for notification.

    The report (JSON, CSV, HTML summary) names them per Client (the Client notifies; iNextCRM is
    its processor) and for iNextCRM's own tables (iNextCRM notifies its Users). It is written to
    the export store of the region (EU data: the EU store) or to --out; the audit log records the
    query with counts and the report's SHA-256. Here only counts are shown.
    """
    from connectors.crm.datamap import DataMapError
    from dsr.breach.run import run_breach_impact
    from dsr.breach.window import BreachInputError, parse_query
    from dsr.cli.session import Session

    session = Session(as_json=as_json)
    settings, resources = session.settings, session.resources
    crm, exports = resources["crm"], resources["exports"]
    if out is not None and out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give a folder for the report", as_json=as_json)
    try:
        query = parse_query(
            crm.datamap(),
            settings.regions,
            tables=tables,
            since=since,
            until=until,
            regions=regions,
        )
        session.connectors(as_json=as_json)  # every region reachable and fitting the map
        connectors = [crm.connector(r) for r in query.regions]
    except (BreachInputError, DataMapError) as exc:
        fail(f"breach query refused: {exc}", as_json=as_json)
    if out is not None and (out / "report.json").exists():
        fail(f"{out} already holds a breach report; choose another folder", as_json=as_json)
    ledger = session.ledger  # the home (announced if new) exists before the report is written
    backups = resources["backups"]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=errors,
        disable=as_json,
        transient=True,
    ) as progress:
        task = progress.add_task("reading", total=None)

        def on_progress(stage: str, done: int, total: int) -> None:
            progress.update(task, description=stage, completed=done, total=total)

        try:
            impact, files = run_breach_impact(
                connectors,
                query,
                ledger=ledger,
                store_dir_for=lambda found: exports.dir_for(found)[1],
                out=out,
                backups=backups.store(),
                tombstones=backups.tombstones(),
                progress=on_progress,
            )
        except (BreachInputError, DataMapError) as exc:
            fail(f"breach query refused: {exc}", as_json=as_json)
    counts: dict[str, Any] = impact.counts()
    if as_json:
        emit_json({"ok": True, **counts, **files.metadata()})
        return
    console.print(_clients_table(impact))
    console.print(_tables_table(counts))
    console.print(
        f"[bold]{counts['people']}[/] people affected: {counts['client_people']} in "
        f"{counts['clients_affected']} Client(s)' data (the Clients notify), "
        f"{counts['inextcrm_people']} of iNextCRM's own ({counts['inextcrm_users']} Users; "
        f"iNextCRM notifies); {counts['not_contactable']} without e-mail or phone"
    )
    for note in _notes(impact):
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"report: [bold]{files.json_path}[/]  sha256 {files.sha256}")
    console.print(f"        {files.folder / 'affected.csv'}, {files.folder / 'summary.html'}")


def _clients_table(impact: Any) -> Table:
    table = Table(title=f"breach {impact.breach_id}: who notifies whom")
    for col in ("notifier", "region", "client id"):
        table.add_column(col)
    table.add_column("people", justify="right")
    table.add_column("rows", justify="right")
    for c in impact.clients:
        label = (c.name or "(Client not found)") if c.client_id else "(row without tenant)"
        table.add_row(label, c.region, c.client_id, str(c.people_count), str(sum(c.rows.values())))
    users = impact.tally.inextcrm_users
    rows = sum(impact.inextcrm_rows.values())
    table.add_row(
        f"iNextCRM ({users} Users)",
        "",
        "",
        str(impact.inextcrm_people),
        str(rows),
        end_section=True,
    )
    return table


def _tables_table(counts: dict[str, Any]) -> Table:
    table = Table(title="rows present in the window")
    for col in ("region", "table"):
        table.add_column(col)
    for col in ("rows", "people", "naming nobody"):
        table.add_column(col, justify="right")
    for region, tables in counts["rows"].items():
        for name, n in tables.items():
            people = counts["people_per_table"].get(region, {}).get(name, 0)
            nobody = counts["unattributed_rows"].get(region, {}).get(name, 0)
            table.add_row(region, name, str(n), str(people), str(nobody))
    return table


def _notes(impact: Any) -> list[str]:
    notes = []
    if impact.untimed_tables:
        notes.append(
            "no time column in the data map, all rows counted: " + ", ".join(impact.untimed_tables)
        )
    for b in impact.backups:
        if b.missing_rows:
            notes.append(
                f"backup {b.backup_id} holds {sum(b.missing_rows.values())} rows of the window "
                "no longer in the live database (see the report)"
            )
    if impact.erasures_since:
        notes.append(f"{impact.erasures_since} erasure(s) since the window began are not listed")
    return notes
