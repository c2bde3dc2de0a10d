"""One run per request at a time: a lease that names the run holding it.

Every step that changes something for a request first holds ``request:<request_id>`` in the
ledger database (``dsr.ledger.leases``), as ``dagster run <run id> (pid N on host H)``. A second
run (a second ``dsr run``, a sensor launch, a re-execution) finds it held and fails its step
with the holder named, having changed nothing — the request stays as it was. A lease whose run
is over (Dagster says it failed, was canceled or succeeded) or whose process is gone from this
host is taken over at once, so the first attempt after a crash simply continues; the lease's
expiry (6 h) is the last resort for a holder on another host that vanished without a trace.
"""

from __future__ import annotations

import os
import re
import socket
from datetime import timedelta
from pathlib import Path

from dagster import AssetExecutionContext, DagsterInstance, DagsterRunStatus, Failure

from dsr.ledger import Ledger
from dsr.ledger.leases import Lease, LeaseHeld, Leases

LEASE_TTL = timedelta(hours=6)
_HOLDER = re.compile(r"\Adagster run (?P<run>[\w-]+) \(pid (?P<pid>\d+) on host (?P<host>\S+)\)\Z")
_OVER = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def lease_name(request_id: str) -> str:
    return f"request:{request_id}"


def run_holder(run_id: str, pid: int) -> str:
    return f"dagster run {run_id} (pid {pid} on host {socket.gethostname()})"


def _run_pid(context: AssetExecutionContext) -> int:
    # Steps of the multiprocess executor are children of the run's own process: that process,
    # not the step's, lives as long as the run. Every other executor runs steps in the run's
    # process (execute_in_process, which the CLI uses, has an executor of its own).
    multiprocess = context.job_def.executor_def.name == "multiprocess"
    return os.getppid() if multiprocess else os.getpid()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped is a zombie: gone, though kill(0) still finds it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def holder_gone(instance: DagsterInstance, holder: str) -> bool:
    """Whether the run a lease names can no longer be working on its request."""
    m = _HOLDER.match(holder)
    if m is None:
        return False
    run = instance.get_run_by_id(m["run"])
    if run is None or run.status in _OVER:
        return True
    return m["host"] == socket.gethostname() and not pid_alive(int(m["pid"]))


def holds(lease: Lease | None, run_id: str) -> bool:
    return lease is not None and lease.holder.startswith(f"dagster run {run_id} ")


def hold_request(context: AssetExecutionContext, ledger: Ledger, request_id: str) -> Lease:
    """Hold the request for this run (taking over from a run that is gone), or fail the step
    naming the live holder, having changed nothing."""
    leases = Leases(ledger.engine)
    run_id = context.run.run_id

    def reclaim(current: Lease) -> bool:
        return holds(current, run_id) or holder_gone(context.instance, current.holder)

    try:
        lease = leases.take(
            lease_name(request_id), run_holder(run_id, _run_pid(context)), LEASE_TTL, reclaim
        )
    except LeaseHeld as exc:
        raise Failure(
            f"request {request_id} is being fulfilled by {exc.lease.describe()}; this run "
            "changed nothing (wait for it, or run it again once that run has ended)"
        ) from None
    if lease.took_over and f"dagster run {run_id} " not in lease.took_over:
        context.log.warning(f"request {request_id}: took over from {lease.took_over}")
    return lease


def live_holder(ledger: Ledger, instance: DagsterInstance, request_id: str) -> Lease | None:
    """The lease of a run still working on the request, if any (for ``dsr run`` and sensors)."""
    current = Leases(ledger.engine).current(lease_name(request_id))
    if current is None or holder_gone(instance, current.holder):
        return None
    return current


def release_request(ledger: Ledger, request_id: str, run_id: str) -> None:
    leases = Leases(ledger.engine)
    current = leases.current(lease_name(request_id))
    if current is not None and holds(current, run_id):
        leases.release(current)
