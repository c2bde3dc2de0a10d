"""`dsr status`: a request's state, dates, counts, what is still pending, and its audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsr.cli.fulfil import Session
from dsr.cli.options import JsonOpt
from dsr.cli.output import console, emit_json, fail
from dsr.cli.proof_view import describe, pending_items

# The counts a fulfilment records in the request's result, in the order a person reads them.
COUNT_KEYS = (
    ("rows_per_system", "rows found"),
    ("mentions_per_system", "mentions"),
    ("actions_per_system", "erasure"),
    ("rows_per_table", "rows set"),
    ("not_searched", "not searched"),
)


def _counts(value: Any) -> str:
    """``{"deleted": 5, "kept": 4}`` → ``deleted 5, kept 4``; nested maps in brackets."""
    if isinstance(value, Mapping):
        if not value:
            return "none"
        return ", ".join(
            f"{k} {_counts(v)}" if not isinstance(v, Mapping) else f"{k} ({_counts(v)})"
            for k, v in value.items()
        )
    return str(value)


def _count_lines(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    lines = []
    for key, label in COUNT_KEYS:
        per_system = result.get(key)
        if not per_system:
            continue
        for system, value in sorted(per_system.items()):
            lines.append((label, f"{system}: {_counts(value)}"))
    lifted = result.get("lifted") or {}
    for system, value in sorted((lifted.get("rows_per_table") or {}).items()):
        lines.append(("lifted", f"{system}: {_counts(value)}"))
    return lines


def status(request_id: str, as_json: JsonOpt = False) -> None:
    """Show a request's state, dates, counts, pending items and audit trail."""
    from dsr.ledger import LedgerError

    session = Session(as_json=as_json, creates=False)
    try:
        record = session.ledger.get(request_id)
    except LedgerError as exc:
        fail(str(exc), as_json=as_json)
    entries = session.ledger.audit_entries(request_id)
    chain = session.ledger.verify_chain()
    result = record.result or {}
    pending = pending_items(result.get("proof"))
    if as_json:
        emit_json(
            {
                "request_id": record.request_id,
                "type": record.type,
                "scope": record.scope,
                "client_id": record.client_id,
                "state": record.state,
                "received_at": record.received_at,
                "due_at": record.due_at,
                "identity_verified": record.identity_verified,
                "extension_reason": record.extension_reason,
                "extension_months": record.extension_months,
                "result": result,
                "pending": pending,
                "failure_reason": record.failure_reason,
                "audit": [{"seq": e.seq, "at": e.at, "event": e.event} for e in entries],
                "audit_chain_ok": chain.ok,
            }
        )
        return
    for key in ("request_id", "type", "scope", "client_id", "state", "received_at", "due_at"):
        console.print(f"{key:>12}: {getattr(record, key)}")
    console.print(f"{'verified':>12}: {'yes' if record.identity_verified else 'no'}")
    if record.extension_months:
        console.print(
            f"{'extended':>12}: {record.extension_months} month(s): {record.extension_reason}",
            soft_wrap=True,
        )
    if record.failure_reason:
        console.print(f"{'reason':>12}: {record.failure_reason}", soft_wrap=True)
    for label, line in _count_lines(result):
        console.print(f"{label:>12}: {line}", soft_wrap=True)
    for item in pending:
        console.print(f"{'pending':>12}: {describe(item)}", soft_wrap=True)
    for key in ("bundle", "proof"):
        if result.get(key):
            console.print(f"{key:>12}: {result[key]}", soft_wrap=True)
    console.print(f"{'audit':>12}: {len(entries)} entries, chain {'ok' if chain.ok else 'BROKEN'}")
    for e in entries:
        console.print(f"{'':>12}  #{e.seq} {e.at} {e.event}")
