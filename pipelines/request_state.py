"""Keeping the ledger truthful about a request while Dagster runs it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from dagster import AssetExecutionContext, DagsterInstance, Failure

from dsr.ledger import InvalidTransition, Ledger, RequestRecord, RequestType, Scope, State
from dsr.retention.tenants import TICKET as TENANT_PURGE_TICKET
from pipelines.request_lease import holds, live_holder


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
            try:
                # A sibling step may have failed it first; the first reason stands.
                with suppress(InvalidTransition):
                    ledger.transition(request_id, State.FAILED, reason=reason)
            except Exception as again:  # the ledger itself is unreachable
                context.log.error(
                    f"request {request_id}: {reason}; the ledger could not record it "
                    f"({again.__class__.__name__}): the request stays in progress until the "
                    "next attempt or the run-failure sensor marks it"
                )
            context.log.error(f"request {request_id}: {reason}")
        raise


JOB_TYPES = {
    "access_fulfilment": {RequestType.ACCESS, RequestType.PORTABILITY},
    "erasure_fulfilment": {RequestType.ERASURE},
    "rectification_fulfilment": {RequestType.RECTIFICATION},
    "opt_out_fulfilment": {RequestType.OPT_OUT},
    "restriction_fulfilment": {RequestType.RESTRICTION},
}
# Requests that change what may be done with an account wait for its holder's verified identity;
# an opt-out does not (stopping marketing harms nobody, like an unsubscribe link).
_NEEDS_VERIFIED_HOLDER = {RequestType.ERASURE: "erases", RequestType.RESTRICTION: "restricts"}


def job_for(record: RequestRecord) -> str:
    return next(job for job, types in JOB_TYPES.items() if record.type in types)


def launch_blocker(record: RequestRecord) -> str | None:
    """Why a request may not be fulfilled yet, or None when it may."""
    if record.channel == "schedule" and record.ticket_ref == TENANT_PURGE_TICKET:
        return (
            f"request {record.request_id} purges a closed account: the retention_purge job runs "
            "it (dsr purge), not a fulfilment job"
        )
    verb = _NEEDS_VERIFIED_HOLDER.get(record.type)
    if verb and record.scope == Scope.USER_ACCOUNT and not record.identity_verified:
        return (
            f"request {record.request_id} {verb} a user account whose holder's identity is not "
            f"verified: verify it first (dsr verify-identity {record.request_id} --by STAFF)"
        )
    return None


def check_launchable(record: RequestRecord, job_name: str) -> None:
    """Refuse, changing nothing, a request launched with the wrong job or before it may run."""
    allowed = JOB_TYPES.get(job_name)
    if allowed is not None and record.type not in allowed:
        raise Failure(
            f"request {record.request_id} is a {record.type} request; launch it with "
            f"{job_for(record)}, not {job_name}. Nothing was changed."
        )
    blocker = launch_blocker(record)
    if blocker:
        raise Failure(blocker + ". Nothing was changed.")


def claim_or_fail(ledger: Ledger, request_id: str) -> None:
    """Mark the request in progress for this run, which holds its lease (``request_lease``):
    one left in progress by a run that died is taken up again."""
    if not ledger.claim(request_id, resume=True):
        state = ledger.get(request_id).state
        raise Failure(
            f"request {request_id} is {state}: there is nothing to run; nothing was changed"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


def record_run_failure(
    ledger: Ledger,
    instance: DagsterInstance,
    request_id: str,
    run_id: str,
    failed_steps: list[str],
) -> None:
    """A run that died outside a step's own handler still leaves the request visibly failed —
    unless another run is working on it (a run refused because the request was taken must not
    fail the run that took it)."""
    if ledger.get(request_id).state != State.IN_PROGRESS:
        return
    holder = live_holder(ledger, instance, request_id)
    if holder is not None and not holds(holder, run_id):
        return
    where = f" at {', '.join(sorted(set(failed_steps)))}" if failed_steps else ""
    with suppress(InvalidTransition):
        ledger.transition(request_id, State.FAILED, reason=f"run {run_id[:8]} failed{where}")
