"""Keeping the ledger truthful about a request while Dagster runs it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from dagster import AssetExecutionContext, Failure

from dsr.ledger import InvalidTransition, Ledger, State


@contextmanager
def failing_request(
    context: AssetExecutionContext, ledger: Ledger, request_id: str, step: str, *, retries: int = 0
) -> Iterator[None]:
    """Mark the request failed, naming the step, when a step fails for the last time."""
    try:
        yield
    except Exception as exc:
        if context.retry_number >= retries:
            reason = f"{step} failed: {exc.__class__.__name__}: {_first_line(exc)}"
            # A sibling step may have failed it first; the first reason stands.
            with suppress(InvalidTransition):
                ledger.transition(request_id, State.FAILED, reason=reason)
            context.log.error(f"request {request_id}: {reason}")
        raise


def claim_or_fail(ledger: Ledger, request_id: str) -> None:
    if not ledger.claim(request_id):
        state = ledger.get(request_id).state
        raise Failure(
            f"request {request_id} is {state}: another run holds it or it is already finished; "
            "nothing was changed"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


def record_run_failure(
    ledger: Ledger, request_id: str, run_id: str, failed_steps: list[str]
) -> None:
    """A run that died outside a step's own handler still leaves the request visibly failed."""
    if ledger.get(request_id).state != State.IN_PROGRESS:
        return
    where = f" at {', '.join(sorted(set(failed_steps)))}" if failed_steps else ""
    with suppress(InvalidTransition):
        ledger.transition(request_id, State.FAILED, reason=f"run {run_id[:8]} failed{where}")
