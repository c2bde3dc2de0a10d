"""`dsr seed`, `dsr demo`, `dsr ui`: a demo CRM, one request end to end, and the Dagster UI."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dsr.cli.options import JsonOpt
from dsr.cli.output import console, emit_json, fail
from dsr.cli.session import check_crm_reachable, open_home, shown_url
from dsr.cli.state import options
from dsr.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEMO_CLIENT = "Northwind Traders"
DEMO_AUTHORIZATION = "NW-DPA-2026-01"
DEMO_CONTACTS = 5000


def _check_seed(settings: Settings, contacts: int, seed_value: int, as_json: bool) -> None:
    """Everything a seed needs, checked before the first table is dropped."""
    from dsr.democrm.seed import MIN_CONTACTS
    from dsr.democrm.world import World

    if contacts < MIN_CONTACTS:
        fail(
            f"--contacts must be at least {MIN_CONTACTS} (every demo Client needs contacts of "
            f"its own), not {contacts}; nothing was changed",
            as_json=as_json,
        )
    if seed_value < 0:
        fail(f"--seed must be 0 or more, not {seed_value}; nothing was changed", as_json=as_json)
    for region in settings.regions:
        try:
            World(region, 1, seed_value)
        except ValueError as exc:
            fail(
                f"the demo CRM cannot be seeded in region {region!r}: {exc}; nothing was changed",
                as_json=as_json,
            )
    check_crm_reachable(settings)


def _seed_all(settings: Settings, contacts: int, seed_value: int, quiet: bool) -> dict:
    from sqlalchemy import inspect

    from dsr.democrm.planted import plant
    from dsr.democrm.schema import metadata
    from dsr.democrm.seed import seed as seed_region
    from resources.engines import engine_for

    open_home(settings, as_json=quiet)
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
    as_json: JsonOpt = False,
) -> None:
    """(Re)build the demo CRM in every region: synthetic data plus the planted demo people."""
    settings = Settings.from_env()
    _check_seed(settings, contacts, seed_value, as_json)
    counts = _seed_all(settings, contacts, seed_value, as_json)
    if as_json:
        emit_json(
            {
                "ok": True,
                "regions": counts,
                "urls": {r: shown_url(settings.crm_urls[r]) for r in settings.regions},
                "home": str(settings.home),
            }
        )
        return
    for region, per_table in counts.items():
        total = sum(per_table.values())
        console.print(f"{region}: {total:,} rows in {len(per_table)} tables")


def demo(
    contacts: Annotated[
        int | None,
        typer.Option(help="Synthetic contacts per region, when it seeds (default 5000)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Seed a demo CRM if there is none, then fulfil one access request end to end."""
    from dsr.democrm.planted import DEMO_EMAIL, client_id

    settings = Settings.from_env()
    seeded = all(
        Path(url.removeprefix("sqlite:///")).exists()
        for url in settings.crm_urls.values()
        if url.startswith("sqlite:///")
    )
    if contacts is not None:
        _check_seed(settings, contacts, 42, as_json)
        if seeded:
            fail(
                f"the demo CRM in {settings.home} is already seeded; --contacts applies only to "
                f"a new seed: rebuild it with `dsr seed --contacts {contacts}`, or leave "
                "--contacts out",
                as_json=as_json,
            )
    if not seeded:
        contacts = contacts or DEMO_CONTACTS
        _check_seed(settings, contacts, 42, as_json)
        if not as_json:
            console.print(
                f"seeding a demo CRM ({contacts:,} contacts per region) in {settings.home}"
            )
        _seed_all(settings, contacts, 42, as_json)
    from dsr.cli.fulfil import Session, submit
    from dsr.cli.requests import _intake
    from dsr.democrm.planted import PLANTED_CLIENTS
    from dsr.ledger import RequestType, Scope

    clients = [
        {"client_id": str(client_id(name)), "name": name, "region": region}
        for name, (region, _n) in PLANTED_CLIENTS.items()
    ]
    northwind = str(client_id(DEMO_CLIENT))
    demo_info = {
        "person": DEMO_EMAIL,
        "client": {"client_id": northwind, "name": DEMO_CLIENT, "region": "us"},
        "authorization": DEMO_AUTHORIZATION,
        "clients": clients,
    }
    if not as_json:
        console.print(f"demo person: [bold]{DEMO_EMAIL}[/] (synthetic, planted in every region)")
        console.print(
            "demo Clients: "
            + ", ".join(f"{c['name']} (id {c['client_id']}, {c['region']})" for c in clients)
        )
        console.print(
            f"access request: her data as a contact of {DEMO_CLIENT} (client id {northwind}; "
            f"Client Data, on the Client's instruction {DEMO_AUTHORIZATION}): the us CRM plus "
            "Northwind's Google, Dropbox and GoToMeeting (local stand-ins)",
            soft_wrap=True,
        )
    intake = _intake(
        RequestType.ACCESS,
        [DEMO_EMAIL],
        scope=Scope.CLIENT_DATA,
        client=northwind,
        authorization=DEMO_AUTHORIZATION,
        ticket="DEMO-1",
    )
    try:
        submit(
            Session(as_json=as_json),
            intake,
            as_json=as_json,
            queue=False,
            extra={"demo": demo_info},
        )
    finally:
        if not as_json:
            console.print(
                "\nnext (dsr is .venv/bin/dsr; `source .venv/bin/activate` puts it on PATH):\n"
                "  open the UI:      dsr ui   (then http://127.0.0.1:3000)\n"
                f"  her own account:  dsr access --email {DEMO_EMAIL}\n"
                f"  preview erasure:  dsr erase --email {DEMO_EMAIL} --dry-run\n"
                f"  erase, with proof: dsr erase --email {DEMO_EMAIL} --verified-by agent-1\n"
                f"  as Northwind's:   dsr erase --email {DEMO_EMAIL} --scope client_data "
                f"--client '{DEMO_CLIENT}' --authorization {DEMO_AUTHORIZATION} --dry-run\n"
                "  check a bundle:   dsr verify-bundle PATH",
                soft_wrap=True,
            )


def ui(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the Dagster UI")] = 3000,
    as_json: JsonOpt = False,
) -> None:
    """Start `dagster dev` on this code location, with DAGSTER_HOME under DSR_HOME.

    With --json, one JSON document says where the UI is before it starts (it runs until Ctrl-C)."""
    from dsr.services_mode import start_services_if_standins
    from pipelines.launch import instance_for

    Settings.from_env()
    services = start_services_if_standins()
    settings = Settings.from_env()
    open_home(settings, as_json=as_json)
    instance_for(settings)
    url = f"http://127.0.0.1:{port}"
    # The code location dagster dev starts must find the same home, whatever its folder; and an
    # intake run's link to its fulfilment run must point at this UI's port, not the default one
    # (a URL set on purpose, e.g. behind a proxy, is kept).
    env = {
        **os.environ,
        "DAGSTER_HOME": str(settings.dagster_home),
        "DSR_HOME": str(settings.home),
        "DAGSTER_WEBSERVER_URL": os.environ.get("DAGSTER_WEBSERVER_URL", "").strip() or url,
    }
    workspace = str(REPO / "workspace.yaml")
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", workspace, "-h", "127.0.0.1"]
    # dagster dev's own log goes to a file (the terminal with --verbose).
    log_path = None if options.verbose else settings.home / "logs" / "dagster-dev.log"
    if as_json:
        emit_json(
            {
                "ok": True,
                "url": url,
                "home": str(settings.home),
                "dagster_home": str(settings.dagster_home),
                "standins": services is not None,
                "log": str(log_path) if log_path else None,
            }
        )
    else:
        if services:
            console.print("local stand-ins for Google, Dropbox and GoToMeeting are running")
        console.print(f"Dagster UI on {url} (Ctrl-C to stop); state in {settings.home}")
        if log_path:
            console.print(f"dagster dev's log: {log_path}", soft_wrap=True)
    # Its own process group, so one Ctrl-C (or a TERM) here stops dagster dev and all it started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.ExitStack() as stack:
        out = None
        if log_path:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = stack.enter_context(log_path.open("ab"))
        proc = subprocess.Popen(
            [*cmd, "-p", str(port)],
            cwd=REPO,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
        )
        code = _wait(proc)
    if code not in (0, -signal.SIGINT, 130) and log_path:
        fail(f"dagster dev stopped with exit code {code}; its log: {log_path}", code=1)
    raise typer.Exit(code)


def _wait(proc: subprocess.Popen) -> int:
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return stop_group(proc, timeout=30)


def stop_group(proc: subprocess.Popen, *, timeout: float) -> int:
    """Stop a process started with ``start_new_session`` and all it started (dagster dev's
    webserver and daemon): SIGINT to its group, a clean stop, then SIGKILL if it has not exited
    within ``timeout`` seconds. Its exit code."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
