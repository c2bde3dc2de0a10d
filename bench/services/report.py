"""Rich tables and the "what this shows" lines for ``python -m bench services`` (one result dict
per run)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bench.report import num

Run = dict[str, Any]


def label(run: Run) -> str:
    spec = run["spec"]
    return f"{spec['service']} c={spec['concurrency']} {spec['scenario']}"


def _rate(items: int, seconds: float) -> str:
    return f"{items / seconds:,.0f}" if seconds else "-"


def _peak(phase: dict[str, Any], bound: int) -> str:
    mark = "" if phase["peak_concurrency"] <= bound else " [red]OVER[/red]"
    return f"{phase['peak_concurrency']}/{bound}{mark}"


def _retries(*phases: dict[str, Any]) -> str:
    """429s the server sent / retries the connector made (equal when every 429 was retried)."""
    sent = sum(p["retried_429"] + p.get("server_throttled", 0) for p in phases)
    made = sum(p["client_retries"] for p in phases)
    return f"{sent}/{made}" + ("" if sent == made else " [yellow]≠[/yellow]")


def _table(title: str, columns: tuple[str, ...]) -> Table:
    t = Table(title=title)
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i == 0 else "right")
    return t


def export_table(runs: list[Run]) -> Table:
    t = _table(
        "export: find, file content downloaded (one person)",
        (
            "run",
            "s",
            "items",
            "items/s",
            "MB",
            "requests",
            "429s sent/retries made",
            "peak conc. at server/bound",
            "max req in 1 s",
        ),
    )
    for r in runs:
        e, bound = r["export"], r["spec"]["concurrency"]
        t.add_row(
            label(r),
            f"{e['seconds']:.2f}",
            num(e["items"]),
            _rate(e["items"], e["seconds"]),
            f"{e['bytes'] / 1e6:.1f}",
            num(e["requests"]),
            _retries(e),
            _peak(e, bound),
            num(e["max_per_1s"]),
        )
    return t


def erasure_table(runs: list[Run]) -> Table:
    t = _table(
        "erasure: erase, then verify (a new search)",
        (
            "run",
            "erase s",
            "verify s",
            "total s",
            "items",
            "items/s",
            "requests",
            "429s sent/retries made",
            "peak conc. at server/bound",
            "verified",
        ),
    )
    for r in runs:
        e, v, bound = r["erase"], r["verify"], r["spec"]["concurrency"]
        total = e["seconds"] + v["seconds"]
        peak = {"peak_concurrency": max(e["peak_concurrency"], v["peak_concurrency"])}
        t.add_row(
            label(r),
            f"{e['seconds']:.2f}",
            f"{v['seconds']:.2f}",
            f"{total:.2f}",
            num(e["items"]),
            _rate(e["items"], total),
            num(e["requests"] + v["requests"]),
            _retries(e, v),
            _peak(peak, bound),
            "ok" if r["verify_ok"] else "[red]FAILED[/red]",
        )
    return t


def concurrency_table(runs: list[Run]) -> Table:
    t = _table(
        "concurrency (clean runs): speed-up against concurrency 1",
        (
            "service",
            "concurrency",
            "export s",
            "speed-up",
            "erasure s",
            "speed-up",
            "peak at server (export/erase)",
        ),
    )
    for service in ("google", "dropbox"):
        clean = sorted(
            (
                r
                for r in runs
                if r["spec"]["service"] == service and r["spec"]["scenario"] == "clean"
            ),
            key=lambda r: r["spec"]["concurrency"],
        )
        if not clean:
            continue
        base = clean[0]
        for r in clean:
            ex, er = r["export"]["seconds"], r["erase"]["seconds"] + r["verify"]["seconds"]
            bx, br = base["export"]["seconds"], base["erase"]["seconds"] + base["verify"]["seconds"]
            t.add_row(
                service,
                str(r["spec"]["concurrency"]),
                f"{ex:.2f}",
                f"{bx / ex:.1f}×",
                f"{er:.2f}",
                f"{br / er:.1f}×",
                f"export {r['export']['peak_concurrency']}, erase {r['erase']['peak_concurrency']}",
            )
    return t


def _counts(found: dict[str, int], expected: dict[str, int]) -> str:
    parts = []
    for kind, want in expected.items():
        if kind == "mentions":
            continue
        got = found.get(kind, 0)
        parts.append(f"{kind} {got}/{want}" + ("" if got == want else " [red]≠[/red]"))
    return ", ".join(parts)


def results_table(runs: list[Run]) -> Table:
    t = _table(
        "results: what was found (found/seeded), precision, verification, memory",
        (
            "run",
            "found/seeded",
            "others untouched",
            "verified",
            "pending w/ processor",
            "peak RSS MB (start/seeded)",
        ),
    )
    for r in runs:
        precision = "yes" if r["precision_ok"] else "[red]NO[/red]"
        pending = str(r["pending_with_processor"])
        if "verify_pending" in r:
            pending += " requests; still listed: " + ", ".join(
                f"{k} {v}" for k, v in r["verify_pending"].items()
            )
        if "mentions" in r:
            pending = f"{pending} ({r['mentions']} name mentions reported, kept)"
        t.add_row(
            label(r),
            _counts(r["found"], r["expected"]),
            precision,
            "ok" if r["verify_ok"] else "[red]FAILED[/red]",
            pending,
            f"{r['rss_peak_mb']:,.0f} ({r['rss_start_mb']:,.0f}/{r['rss_seeded_mb']:,.0f})",
        )
    return t


def gotomeeting_table(runs: list[Run]) -> Table:
    t = _table(
        "GoToMeeting rate limit: requests in any 1-second window at the server",
        (
            "run",
            "phase",
            "requests",
            "s",
            "req/s",
            "max in 1 s",
            "limit",
            "server 429s (over limit)",
            "injected 429s/retries made",
        ),
    )
    for r in runs:
        if r["spec"]["service"] != "gotomeeting":
            continue
        for phase in ("export", "erase", "verify"):
            p = r[phase]
            over = p["max_per_1s"] > r["rate_limit"]
            t.add_row(
                label(r),
                phase,
                num(p["requests"]),
                f"{p['seconds']:.1f}",
                _rate(p["requests"], p["seconds"]),
                f"[red]{p['max_per_1s']}[/red]" if over else str(p["max_per_1s"]),
                str(r["rate_limit"]),
                str(p["server_throttled"]),
                _retries(p),
            )
    return t
