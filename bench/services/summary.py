"""The "what this shows" lines of ``python -m bench services``, computed from the runs' figures."""

from __future__ import annotations

from typing import Any

from bench.services.report import Run, label


def summary(runs: list[Run]) -> list[str]:
    lines = []
    for service in ("google", "dropbox"):
        clean = {
            r["spec"]["concurrency"]: r
            for r in runs
            if r["spec"]["service"] == service and r["spec"]["scenario"] == "clean"
        }
        if len(clean) > 1:
            lo, hi = min(clean), max(clean)
            ex = clean[lo]["export"]["seconds"] / clean[hi]["export"]["seconds"]
            er = _erasure_s(clean[lo]) / _erasure_s(clean[hi])
            within = all(_peak_of(r) <= r["spec"]["concurrency"] for r in clean.values())
            bounded = "never saw more" if within else "[red]saw more[/red]"
            lines.append(
                f"{service}: concurrency {lo} → {hi} makes export {ex:.1f}× and erasure "
                f"{er:.1f}× faster; the server {bounded} requests at once than the "
                f"bound (peak/bound: {_peaks(clean.values())})."
            )
        faulted = [
            r for r in runs if r["spec"]["service"] == service and r["spec"]["scenario"] != "clean"
        ]
        for r in faulted:
            base = clean.get(r["spec"]["concurrency"])
            phases = [r[p] for p in ("export", "erase", "verify")]
            n = sum(p["retried_429"] for p in phases)
            retried = sum(p["client_retries"] for p in phases)
            extra = ""
            if base:
                cost = _total_s(r) - _total_s(base)
                extra = f", costing {cost:+.1f} s over the clean run"
            all_found = all(r["found"].get(k, 0) == v for k, v in _strong(r).items())
            same = "every seeded item found" if all_found else "[red]items missing[/red]"
            lines.append(
                f"{label(r)}: {n} injected 429s (Retry-After), {retried} retries by the "
                f"connector; export and erasure completed with {same}, verified "
                f"{'ok' if r['verify_ok'] else 'FAILED'}{extra}."
            )
    for r in runs:
        if r["spec"]["service"] != "gotomeeting":
            continue
        worst = r["max_per_1s_overall"]
        thr = sum(r[p]["server_throttled"] for p in ("export", "erase", "verify"))
        lines.append(
            f"gotomeeting ({r['spec']['scenario']}): at most {worst} requests in any 1 s "
            f"(limit {r['rate_limit']}), {thr} over-limit 429s from the server; export "
            f"took {r['export']['seconds']:.0f} s for {r['export']['requests']} requests "
            f"— one attendee call per meeting of the account, so the rate limit, not "
            f"concurrency, sets the pace."
        )
    bad = [label(r) for r in runs if not (r["precision_ok"] and r["verify_ok"])]
    bad += [label(r) for r in runs if any(r["found"].get(k, 0) != v for k, v in _strong(r).items())]
    bad += [label(r) for r in runs if r.get("mentions", 0) != r["expected"].get("mentions", 0)]
    lines.append(
        "recall and precision: every seeded item found, other people's items untouched, "
        "verification ok in every run."
        if not bad
        else f"[red]incorrect results in: {', '.join(sorted(set(bad)))}[/red]"
    )
    return lines


def _strong(r: Run) -> dict[str, int]:
    return {k: v for k, v in r["expected"].items() if k != "mentions"}


def _erasure_s(r: Run) -> float:
    return r["erase"]["seconds"] + r["verify"]["seconds"]


def _total_s(r: Run) -> float:
    return r["export"]["seconds"] + _erasure_s(r)


def _peak_of(r: Run) -> int:
    return max(r[p]["peak_concurrency"] for p in ("export", "erase", "verify"))


def _peaks(runs: Any) -> str:
    return ", ".join(f"{_peak_of(r)}/{r['spec']['concurrency']}" for r in runs)
