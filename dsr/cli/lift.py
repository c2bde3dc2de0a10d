"""`dsr lift-restriction`: lift a restriction (Art. 18(3)) as a run the Dagster UI shows."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dsr.cli.output import console, emit_json, fail
from dsr.cli.session import Session

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def lift_restriction(
    request_id: str,
    reason: Annotated[str, typer.Option(help="Why the restriction is lifted (no names)")],
    notified_via: Annotated[
        str,
        typer.Option(
            help="How the person was told before the lift, e.g. a ticket reply reference "
            "(Art. 18(3))"
        ),
    ],
    by: Annotated[str, typer.Option("--by", help="Staff handle of who lifts it")],
    as_json: JsonOpt = False,
) -> None:
    """Lift a fulfilled restriction: clear its flag in every region, except where another
    restriction of the person still needs it."""
    from dsr.cli.state import options
    from dsr.ledger import LedgerError
    from dsr.restriction_lift import check_lift
    from pipelines.definitions import build_definitions
    from pipelines.launch import instance_for, loggers_config, write_run_log
    from pipelines.lift import LiftRestrictionConfig, failure_message, run_lift

    session = Session(as_json=as_json, creates=False)
    try:
        # Refused here, before any run exists; the run checks again under the ledger's lock.
        check_lift(session.ledger, request_id, reason=reason, notified_via=notified_via, by=by)
    except (LedgerError, ValueError) as exc:
        fail(f"not lifted: {exc}; nothing was changed", as_json=as_json)
    session.connectors(as_json=as_json)  # every region reachable and fitting the map first
    config = LiftRestrictionConfig(
        request_id=request_id, reason=reason, notified_via=notified_via, lifted_by=by
    )
    instance = instance_for(session.settings)
    result = run_lift(
        build_definitions(session.settings),
        instance,
        config,
        loggers=loggers_config(options.verbose),
    )
    if not result.success:
        log = write_run_log(instance, result.run_id, session.settings.home / "logs")
        fail(
            f"{request_id}: {failure_message(result)}; Dagster's log of the run: {log}",
            as_json=as_json,
            code=1,
        )
    record = session.ledger.get(request_id)
    lifted = record.result["lifted"]
    kept_for = [
        {"request_id": rid, "state": _state(session, rid)} for rid in lifted.get("kept_for", [])
    ]
    if as_json:
        emit_json(
            {
                "ok": True,
                "request_id": request_id,
                "state": record.state,
                "run_id": result.run_id,
                "rows_cleared_per_system": lifted["rows_cleared_per_system"],
                "rows_per_table": lifted["rows_per_table"],
                "kept_for": kept_for,
            }
        )
        return
    table = Table(title="restriction lifted")
    for col in ("system:region", "table", "cleared", "kept (other restriction)", "already clear"):
        table.add_column(col, justify="left" if col in ("system:region", "table") else "right")
    for system, tables in sorted(lifted["rows_per_table"].items()):
        for name, counts in sorted(tables.items()):
            table.add_row(
                system,
                name,
                str(counts["cleared"]),
                str(counts["kept"]),
                str(counts["already_clear"]),
            )
        if not tables:
            table.add_row(system, "(nothing of the person's)", "0", "0", "0")
    console.print(table)
    console.print(f"request [bold]{request_id}[/] is {record.state} (notified via {notified_via})")
    for other in kept_for:
        console.print(
            f"kept (other restriction): flagged for restriction {other['request_id']} "
            f"({other['state']}), which is not lifted",
            soft_wrap=True,
        )


def _state(session: Session, request_id: str) -> str:
    from dsr.ledger import LedgerError

    try:
        return str(session.ledger.get(request_id).state)
    except LedgerError:
        return "unknown"
