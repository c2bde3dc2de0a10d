"""One measured run: a stand-in started in this process, seeded, then find → erase → verify through
the real connector, each phase timed with the server's counters (``bench.services.faults.Window``).

``spec``: service, scenario ("clean", "429": ``rate`` of requests answered 429, "burst": every
request for ``burst_s`` seconds), concurrency, files, events, meetings, file_kb, latency_ms,
retry_after (s), goto_limit, seed. Runs in a spawned process (``bench.services.worker``): the
Dropbox SDK fixes its hosts at first import, and each run gets its own peak RSS.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.services import seed
from bench.services.faults import (
    SdkRetries,
    Traffic,
    Window,
    count_waits,
    dropbox_429,
    google_429,
    goto_429,
    install,
    max_in_window,
)
from connectors.base import Findings
from connectors.services import ServiceAccount
from standins.server import Fault, StandInServer

Tick = Callable[[int, int, str], None]
GOOGLE_TOKEN = "bench-google-token"
GOTO_TOKEN = "bench-gotomeeting-token"
SUBJECT_REF = "subj_bench_0001"
BURST_AT = 50  # the burst scenario starts at this request of the run: inside the export


def _account(kind: str, address: str) -> ServiceAccount:
    return ServiceAccount("90", "1900000090", "us", kind, address, f"vault://bench/{kind}")


def _traffic(server: StandInServer, spec: dict[str, Any], make: Callable[[], Fault]) -> Traffic:
    retry_after = spec["retry_after"]
    faults: dict[str, Any] = {}
    if spec["scenario"] == "429":
        faults = {"rate": spec["rate"]}
    elif spec["scenario"] == "burst":
        faults = {"burst_at": BURST_AT, "burst_s": spec["burst_s"]}

    def make_429() -> Fault:
        fault = make()
        if fault.retry_after is None:
            fault.retry_after = retry_after
        return fault

    latency = spec["latency_ms"] / 1000
    return install(server, latency=latency, make_429=make_429, seed=spec["seed"], **faults)


def _phase(
    server: StandInServer,
    traffic: Traffic,
    label: str,
    estimate: int,
    tick: Tick,
    work: Callable[[], Any],
) -> tuple[Any, dict[str, Any]]:
    """Run ``work`` while a poller reports the server's request count as progress."""
    tick(0, estimate, f"{label}: starting")
    window = Window(server, traffic).open()
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.25):
            n = window.requests_so_far()
            tick(n, max(n, estimate), f"{label}: {n} requests")

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        result = work()
    finally:
        done.set()
        poller.join()
    figures = window.close()
    tick(figures["requests"], figures["requests"], f"{label}: done")
    return result, figures


@dataclass
class _Phases:
    """What find, erase and verify returned, and each one's figures from ``_phase``."""

    found: Findings
    erased: Any
    verified: Any
    export: dict[str, Any]
    erase: dict[str, Any]
    verify: dict[str, Any]


def _find_erase_verify(
    server: StandInServer,
    traffic: Traffic,
    tick: Tick,
    conn: Any,
    estimates: tuple[int, int, int],
) -> _Phases:
    """The three phases through ``conn`` for the bench's identities; ``estimates`` are each
    phase's expected request count (the progress bar's length)."""
    ids = seed.IDENTITIES
    found, export = _phase(server, traffic, "export", estimates[0], tick, lambda: conn.find(ids))
    erased, erase = _phase(
        server, traffic, "erase", estimates[1], tick, lambda: conn.erase(found, ids)
    )
    verified, verify = _phase(
        server, traffic, "verify", estimates[2], tick, lambda: conn.verify(ids)
    )
    return _Phases(found, erased, verified, export, erase, verify)


def _content_bytes(findings: Findings) -> int:
    return sum(len(r.data.get("content") or b"") for r in findings.rows)


def run_google(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    from connectors.google.connector import GoogleConnector
    from standins.google import GoogleStandIn

    files, events = spec["files"], spec["events"]
    account = _account("google", "crm-sync@northwind.test")
    with GoogleStandIn(GOOGLE_TOKEN, account=account.account, page_size=1000) as google:
        seeded = seed.seed_google(google, files, events, tick, spec["seed"], spec["file_kb"])
        before = {e: len(google.attendees(e, c)) for c, e in seeded["attended"]}
        traffic = _traffic(google.server, spec, google_429)
        conn = GoogleConnector(
            account, GOOGLE_TOKEN, base_url=google.url, concurrency=spec["concurrency"]
        )
        count_waits(conn.api, traffic)
        estimates = (files + 10, 2 * events + files + 2, 10)
        phases = _find_erase_verify(google.server, traffic, tick, conn, estimates)
        kept_attendees = all(
            len(google.attendees(e, c)) == before[e] - 1 for c, e in seeded["attended"]
        )
        live = {e for c in google.calendars for e in google.live_events(c)}
        precision = (
            kept_attendees
            and all(e in live for _, e in seeded["untouched_events"])
            and all(e not in live for _, e in seeded["organised"])
            and all(f in google.files for f in seeded["other_files"])
        )
    return _result(spec, seeded, phases, precision, pending=len(phases.erased.pending))


def run_dropbox(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    from standins.dropbox_demo import shared_standin  # sets the SDK hosts before its import

    standin = shared_standin()
    standin.reset()
    standin.page_size = 500
    from connectors.dropbox.files import DropboxConnector

    files = spec["files"]
    seeded = seed.seed_dropbox(standin, files, tick, spec["seed"], spec["file_kb"])
    traffic = _traffic(standin.server, spec, lambda: dropbox_429(spec["retry_after"]))
    account = _account("dropbox", "dropbox-sync@northwind.test")
    conn = DropboxConnector(
        account, standin.token, ca_file=standin.ca_file, concurrency=spec["concurrency"]
    )
    sdk_log = logging.getLogger("dropbox")
    sdk_log.setLevel(logging.INFO)
    sdk_log.addHandler(SdkRetries(traffic))
    sdk_log.propagate = False  # counted, not printed over the progress bars
    phases = _find_erase_verify(standin.server, traffic, tick, conn, (files + 10, files + 3, 40))
    paths = set(standin.paths())
    precision = all(p in paths for p in seeded["other_paths"])
    out = _result(spec, seeded, phases, precision)
    out["mentions"] = len(phases.found.mentions)
    return out


def run_gotomeeting(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    from connectors.gotomeeting.connector import GoToMeetingConnector
    from standins.gotomeeting import GoToMeetingStandIn

    limit = spec["goto_limit"]
    with GoToMeetingStandIn(token=GOTO_TOKEN, rate_limit=limit) as standin:
        seeded = seed.seed_gotomeeting(standin, spec["meetings"], tick, spec["seed"])
        traffic = _traffic(standin, spec, goto_429)
        account = _account("gotomeeting", "meetings@northwind.test")
        conn = GoToMeetingConnector(
            account,
            GOTO_TOKEN,
            base_url=standin.base_url,
            concurrency=spec["concurrency"],
            rate_per_second=float(limit),
            subject_ref=SUBJECT_REF,
        )
        count_waits(conn.api, traffic)
        # Each retry is logged as a warning: counted above, not printed over the progress bars.
        logging.getLogger("connectors.gotomeeting.api").setLevel(logging.ERROR)
        listing = seeded["account_meetings"] + 15
        ids = seed.IDENTITIES
        with conn:
            found, export = _phase(
                standin, traffic, "export", listing, tick, lambda: conn.find(ids)
            )
            throttled = standin.throttled
            erased, erase = _phase(
                standin,
                traffic,
                "erase",
                len(seeded["upcoming"]),
                tick,
                lambda: conn.erase(found, ids),
            )
            verified, verify = _phase(
                standin, traffic, "verify", listing, tick, lambda: conn.verify(ids)
            )
        precision = all(
            standin.exists(m) for m in seeded["untouched"] + seeded["past"]
        ) and not any(standin.exists(m) for m in seeded["upcoming"])
        export["server_throttled"] = throttled
        overall = max_in_window(sorted(traffic.arrivals))
        erase["server_throttled"] = verify["server_throttled"] = standin.throttled - throttled
    phases = _Phases(found, erased, verified, export, erase, verify)
    out = _result(spec, seeded, phases, precision, pending=len(erased.pending))
    out["verify_pending"] = dict(verified.pending)
    out["rate_limit"] = limit
    out["max_per_1s_overall"] = overall
    return out


def _result(
    spec: dict[str, Any],
    seeded: dict[str, Any],
    phases: _Phases,
    precision: bool,
    pending: int = 0,
) -> dict[str, Any]:
    found, applied, verified = phases.found, phases.erased.applied, phases.verified
    export = phases.export | {"items": found.total_rows, "bytes": _content_bytes(found)}
    erase = phases.erase | {
        "items": sum(
            n
            for kind in applied.values()
            for a, n in kind.items()
            if a not in ("already_absent", "already_gone", "kept_not_empty")
        )
    }
    return {
        "spec": spec,
        "expected": seeded["expected"],
        "found": found.row_counts(),
        "applied": applied,
        "pending_with_processor": pending,
        "verify_ok": bool(verified.ok),
        "remaining": dict(verified.remaining),
        "precision_ok": bool(precision),
        "export": export,
        "erase": erase,
        "verify": phases.verify,
    }


RUNS: dict[str, Callable[[dict[str, Any], Tick], dict[str, Any]]] = {
    "google": run_google,
    "dropbox": run_dropbox,
    "gotomeeting": run_gotomeeting,
}
