"""`dsr`: the command line for engineers and scripts. Every command takes --json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from dsr.cli import demo as demo_commands
from dsr.cli.output import console, counts_table, emit_json, fail
from dsr.intake import IntakeError, IntakeRequest, register_request
from dsr.ledger import LedgerError, RequestType, Scope, State
from dsr.settings import Settings
from resources import build_resources

app = typer.Typer(
    help="Data-subject request fulfilment for iNextCRM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("seed")(demo_commands.seed)
app.command("demo")(demo_commands.demo)
app.command("ui")(demo_commands.ui)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def _ledger(settings: Settings):  # type: ignore[no-untyped-def]
    settings.ensure_dirs()
    return build_resources(settings)["ledger"].ledger()


@app.command()
def access(
    email: Annotated[list[str], typer.Option("--email", "-e", help="The person's e-mail (repeat)")],
    phone: Annotated[list[str] | None, typer.Option(help="Phone number, any format")] = None,
    name: Annotated[list[str] | None, typer.Option(help="Full name (finds mentions)")] = None,
    scope: Annotated[Scope, typer.Option(help="user_account or client_data")] = Scope.USER_ACCOUNT,
    client: Annotated[str | None, typer.Option(help="Client id (client_data scope)")] = None,
    authorization: Annotated[
        str | None, typer.Option(help="Client's authorisation reference (client_data)")
    ] = None,
    ticket: Annotated[str | None, typer.Option(help="Support ticket reference")] = None,
    portability: Annotated[bool, typer.Option(help="Art. 20 portability request")] = False,
    queue: Annotated[
        bool, typer.Option(help="Only register; the Dagster sensor launches the run")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register an access request and fulfil it: search every region, build the bundle."""
    from pipelines.definitions import build_definitions
    from pipelines.launch import instance_for, run_fulfilment
    from pipelines.request_state import record_run_failure

    settings = Settings.from_env()
    resources = build_resources(settings)
    settings.ensure_dirs()
    ledger = resources["ledger"].ledger()
    crm = resources["crm"]
    intake = IntakeRequest(
        type=RequestType.PORTABILITY if portability else RequestType.ACCESS,
        emails=email,
        phones=phone or [],
        names=name or [],
        scope=scope,
        client_id=client,
        authorization_ref=authorization,
        ticket_ref=ticket,
        channel="cli",
    )
    try:
        record = register_request(
            ledger, crm.connectors(), intake, default_region=settings.default_phone_region
        )
    except IntakeError as exc:
        fail(f"request not registered: {exc}", as_json=as_json)
    rid = record.request_id
    instance = instance_for(settings)
    if queue:
        from pipelines.partitions import REQUESTS_PARTITIONS_NAME

        instance.add_dynamic_partitions(REQUESTS_PARTITIONS_NAME, [rid])
        if as_json:
            emit_json({"ok": True, "request_id": rid, "state": record.state, "queued": True})
        else:
            console.print(f"registered [bold]{rid}[/]; the pending-requests sensor will run it")
        return
    defs = build_definitions(settings)
    labels = {"STEP_START": "searching", "STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED"}
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=console,
        disable=as_json,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{rid}: starting", total=None)

        def on_step(event: str, step: str) -> None:
            what = labels.get(event, event.lower().replace("_", " "))
            progress.update(task, description=f"{rid}: {step} {what}")

        result = run_fulfilment(defs, instance, rid, on_step=on_step)
        progress.update(task, description=f"{rid}: run {result.run_id[:8]} finished")
    if not result.success:
        record_run_failure(ledger, rid, result.run_id, result.failed_steps)
    _report(ledger.get(rid), result.run_id, as_json)


def _report(record, run_id: str, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    result = record.result or {}
    payload = {
        "ok": record.state == State.FULFILLED,
        "request_id": record.request_id,
        "state": record.state,
        "run_id": run_id,
        "due_at": record.due_at,
        "bundle": result.get("bundle"),
        "rows_per_system": result.get("rows_per_system", {}),
        "mentions_per_system": result.get("mentions_per_system", {}),
        "failure_reason": record.failure_reason,
    }
    if as_json:
        emit_json(payload)
    else:
        if payload["ok"]:
            console.print(
                counts_table("found", payload["rows_per_system"], payload["mentions_per_system"])
            )
            console.print(f"request [bold]{record.request_id}[/] fulfilled")
            console.print(f"bundle: [bold]{payload['bundle']}[/]")
        else:
            console.print(f"request [bold]{record.request_id}[/] is [bold red]{record.state}[/]")
            console.print(f"reason: {record.failure_reason or 'see the run in the Dagster UI'}")
    if not payload["ok"]:
        raise typer.Exit(1)


@app.command()
def status(request_id: str, as_json: JsonOpt = False) -> None:
    """Show a request's state, dates, result and audit trail."""
    ledger = _ledger(Settings.from_env())
    try:
        record = ledger.get(request_id)
    except LedgerError as exc:
        fail(str(exc), as_json=as_json)
    entries = ledger.audit_entries(request_id)
    chain = ledger.verify_chain()
    payload = {
        "request_id": record.request_id,
        "type": record.type,
        "scope": record.scope,
        "client_id": record.client_id,
        "state": record.state,
        "received_at": record.received_at,
        "due_at": record.due_at,
        "extension_reason": record.extension_reason,
        "result": record.result,
        "failure_reason": record.failure_reason,
        "audit": [{"seq": e.seq, "at": e.at, "event": e.event} for e in entries],
        "audit_chain_ok": chain.ok,
    }
    if as_json:
        emit_json(payload)
        return
    for key in ("request_id", "type", "scope", "client_id", "state", "received_at", "due_at"):
        console.print(f"{key:>12}: {payload[key]}")
    if record.failure_reason:
        console.print(f"{'reason':>12}: {record.failure_reason}")
    if record.result:
        console.print(f"{'bundle':>12}: {record.result.get('bundle')}")
    console.print(f"{'audit':>12}: {len(entries)} entries, chain {'ok' if chain.ok else 'BROKEN'}")
    for e in entries:
        console.print(f"{'':>12}  #{e.seq} {e.at} {e.event}")


@app.command("verify-bundle")
def verify_bundle_cmd(
    path: Path,
    public_key: Annotated[
        Path | None, typer.Option(help="Trusted public key PEM (default: ours)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every file of a bundle against its manifest and the manifest's signature."""
    from dsr.bundle import verify_bundle

    if not path.is_file():
        fail(f"no such bundle: {path}", as_json=as_json)
    pem = (
        public_key.read_text()
        if public_key
        else build_resources(Settings.from_env())["ledger"].key_ring().public_key_pem()
    )
    report = verify_bundle(path, pem)
    if as_json:
        emit_json(
            {
                "ok": report.ok,
                "problems": report.problems,
                "files": report.files_checked,
                "signature": report.signature,
            }
        )
    elif report.ok:
        console.print(f"[green]valid[/]: {report.files_checked} files match the signed manifest")
    else:
        for problem in report.problems:
            console.print(f"[red]✗[/] {problem}")
    if not report.ok:
        raise typer.Exit(1)


@app.command("public-key")
def public_key() -> None:
    """Print the public key that verifies our bundles and proofs."""
    settings = Settings.from_env()
    settings.ensure_dirs()
    print(build_resources(settings)["ledger"].key_ring().public_key_pem(), end="")


if __name__ == "__main__":
    app()
