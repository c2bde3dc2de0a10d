"""`dsr seed`, `dsr demo`, `dsr ui`: a demo CRM, one request end to end, and the Dagster UI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dsr.cli.output import console, emit_json
from dsr.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def _seed_all(settings: Settings, contacts: int, seed_value: int, quiet: bool) -> dict:
    from sqlalchemy import inspect

    from dsr.democrm.planted import plant
    from dsr.democrm.schema import metadata
    from dsr.democrm.seed import seed as seed_region
    from resources.engines import engine_for

    settings.ensure_dirs()
    counts: dict[str, dict[str, int]] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    ) as progress:
        for region in settings.regions:
            engine = engine_for(settings.crm_urls[region])
            if inspect(engine).get_table_names():
                metadata.drop_all(engine)
            task = progress.add_task(f"{region}: starting", total=None)

            def report(
                table: str, done: int, total: int, task: int = task, region: str = region
            ) -> None:
                progress.update(task, description=f"{region}: {table}", completed=done, total=total)

            counts[region] = seed_region(
                engine, region=region, contacts=contacts, seed=seed_value, progress=report
            )
            plant(engine, region)
    return counts


def seed(
    contacts: Annotated[int, typer.Option(help="Synthetic contacts per region")] = 5000,
    seed_value: Annotated[
        int, typer.Option("--seed", help="Random seed (same seed, same data)")
    ] = 42,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """(Re)build the demo CRM in every region: synthetic data plus the planted demo people."""
    settings = Settings.from_env()
    counts = _seed_all(settings, contacts, seed_value, as_json)
    if as_json:
        emit_json({"ok": True, "regions": counts, "urls": list(settings.regions)})
        return
    for region, per_table in counts.items():
        total = sum(per_table.values())
        console.print(f"{region}: {total:,} rows in {len(per_table)} tables")


def demo(
    contacts: Annotated[int, typer.Option(help="Synthetic contacts per region")] = 5000,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Seed a demo CRM if there is none, then fulfil one access request end to end."""
    from dsr.democrm.planted import DEMO_EMAIL, client_id

    settings = Settings.from_env()
    seeded = all(
        Path(url.removeprefix("sqlite:///")).exists()
        for url in settings.crm_urls.values()
        if url.startswith("sqlite:///")
    )
    if not seeded:
        if not as_json:
            console.print(
                f"seeding a demo CRM ({contacts:,} contacts per region) in {settings.home}"
            )
        _seed_all(settings, contacts, 42, as_json)
    if not as_json:
        console.print(f"demo person: [bold]{DEMO_EMAIL}[/] (synthetic, planted in every region)")
    from dsr.cli.requests import access
    from dsr.ledger import Scope

    northwind = str(client_id("Northwind Traders"))
    if not as_json:
        console.print(
            "access request: her data as a contact of Northwind Traders (Client Data, on the "
            "Client's instruction NW-DPA-2026-01): the us CRM plus Northwind's Google, Dropbox "
            "and GoToMeeting (local stand-ins)"
        )
    try:
        access(
            email=[DEMO_EMAIL],
            scope=Scope.CLIENT_DATA,
            client=northwind,
            authorization="NW-DPA-2026-01",
            ticket="DEMO-1",
            as_json=as_json,
        )
    finally:
        if not as_json:
            console.print(
                "\nnext (dsr is .venv/bin/dsr; `source .venv/bin/activate` puts it on PATH):\n"
                "  open the UI:      dsr ui   (then http://127.0.0.1:3000)\n"
                f"  her own account:  dsr access --email {DEMO_EMAIL}\n"
                f"  preview erasure:  dsr erase --email {DEMO_EMAIL} --dry-run\n"
                f"  erase, with proof: dsr erase --email {DEMO_EMAIL} --verified-by agent-1\n"
                "  check a bundle:   dsr verify-bundle PATH",
                soft_wrap=True,
            )


def ui(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI")] = 3000,
) -> None:
    """Start `dagster dev` on this code location, with DAGSTER_HOME under DSR_HOME."""
    from dsr.services_mode import start_services_if_standins
    from pipelines.launch import instance_for

    if start_services_if_standins():
        console.print("local stand-ins for Google, Dropbox and GoToMeeting are running (demo data)")
    settings = Settings.from_env()
    instance_for(settings)
    env = {**os.environ, "DAGSTER_HOME": str(settings.dagster_home)}
    workspace = str(REPO / "workspace.yaml")
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", workspace, "-h", "127.0.0.1"]
    console.print(f"Dagster UI on http://127.0.0.1:{port} (Ctrl-C to stop)")
    # Its own process group, so one Ctrl-C (or a TERM) here stops dagster dev and all it started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    proc = subprocess.Popen([*cmd, "-p", str(port)], cwd=REPO, env=env, start_new_session=True)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
    raise typer.Exit(code)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
