"""A batch erasure: every subject at once, one transaction per database, then per-subject evidence.

Discovery is one ``resolve_across`` and one ``find`` per region for the whole batch; then
``plan_many`` and ``apply`` (ONE transaction per database holding every subject), one physical
cleanup per database over the tables the batch touched, then the re-search and a signed proof for
each subject.

The re-search is measured twice. *Per subject* is ``CrmEraser.verify``, the only verification API
there is: a full ``find`` per subject and region, so it costs about one single-subject discovery
each (minutes for 1,000 subjects). It runs on the first ``verify_sample`` subjects (all if 0) and
its total for the batch is extrapolated from their mean. *Batched* is the same ``find`` given every
subject at once, each subject's findings then judged by ``dsr.erasure.verify.classify`` exactly
as ``verify`` judges them: what a ``verify_many`` would cost. Proofs use the per-subject verdict
where there is one and the batched verdict otherwise.
"""

from __future__ import annotations

from datetime import date
from statistics import mean, median
from time import perf_counter
from typing import Any

from bench.erasure.desk import Desk
from bench.erasure.meter import BATCHED, PHASES, Meter, Peaks
from bench.erasure.phases import Tick, _found, _outcome, _physical_figures, _setup
from bench.report import p95
from connectors.base import EMAIL, Identity
from connectors.crm.sql import resolve_across
from connectors.identities import parse_identity
from dsr.erasure.crm import CrmEraser, ErasureResult, Verification
from dsr.erasure.verify import classify


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "median": 0.0, "p95": 0.0, "max": 0.0, "mean": 0.0}
    return {
        "n": len(values),
        "median": median(values),
        "p95": p95(values),
        "max": max(values),
        "mean": mean(values),
    }


def batch(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    peaks = Peaks()
    subjects, scope, cid = spec["subjects"], spec["scope"], spec["client_id"]
    total = len(subjects)
    sample = spec.get("verify_sample") or total
    with Desk() as desk:
        dm, connectors, erasers, log, setup_s = _setup(spec, CrmEraser, desk, {(scope, cid)})
        start = perf_counter()
        rids: list[str] = []
        for n, s in enumerate(subjects):
            rids.append(desk.register(s["email"], scope, cid))
            if n % 50 == 0:
                tick(n, total, "registering requests")
        register_s = perf_counter() - start
        meter = Meter(peaks)
        tick(0, total, "discovery of the whole batch")
        with meter("discovery"):
            ids = {
                rid: {parse_identity(EMAIL, s["email"])}
                for rid, s in zip(rids, subjects, strict=True)
            }
            resolved = resolve_across(connectors, ids, scope=scope, client_id=cid)
            found = [c.find(resolved, scope=scope, client_id=cid) for c in connectors]
        every: dict[str, set[Identity]] = {
            rid: resolved[rid].union(*(f[rid].identities for f in found)) for rid in rids
        }
        tick(0, total, "plan_many")
        with meter("plan"):
            plans = [e.plan_many(f) for e, f in zip(erasers, found, strict=True)]
        tick(0, total, "apply: one transaction per database")
        with meter("apply"):
            applied = [
                e.apply(list(p.values()), every) for e, p in zip(erasers, plans, strict=True)
            ]
        tick(0, total, "physical cleanup")
        touched: list[list[str]] = []
        with meter("physical"):
            for e, a in zip(erasers, applied, strict=True):
                tables = {t for by in a.values() for t, n in by.items() if any(n.values())}
                touched.append(sorted(tables))
                e.physical_cleanup(touched[-1])
        verdicts: dict[str, list[Verification]] = {}
        verify_s: list[float] = []
        with meter("verification"):
            for n, rid in enumerate(rids[:sample]):
                began = perf_counter()
                verdicts[rid] = [e.verify(every[rid], scope=scope, client_id=cid) for e in erasers]
                verify_s.append(perf_counter() - began)
                if n % 10 == 0:
                    tick(n, sample, "verification, subject by subject")
        tick(0, total, "verification, every subject in one find")
        batched: dict[str, list[Verification]] = {rid: [] for rid in rids}
        with meter(BATCHED):
            for c, e in zip(connectors, erasers, strict=True):
                again = c.find(every, scope=scope, client_id=cid)
                for rid in rids:
                    batched[rid].append(classify(again[rid], dm, e.rules, date.today()))
        results: dict[str, list[ErasureResult]] = {}
        for rid in rids:
            for i, (e, v) in enumerate(zip(erasers, verdicts.get(rid, batched[rid]), strict=True)):
                plan = plans[i][rid]
                result = ErasureResult(e.region, rid, plan.counts(), applied[i][rid], v, plan)
                result.physically_cleaned = touched[i] if spec["physical"] != "none" else []
                results.setdefault(rid, []).append(result)
        proof_s: list[float] = []
        with meter("proof"):
            for n, rid in enumerate(rids):
                if all(r.verification.ok for r in results[rid]):
                    began = perf_counter()
                    desk.issue(rid, results[rid])
                    proof_s.append(perf_counter() - began)
                if n % 10 == 0:
                    tick(n, total, "a signed proof per subject")
        tick(total, total, "done")
        outcomes = [_outcome(rs) for rs in results.values()]
        figures = meter.figures()
        seconds = figures["seconds"]
        per_subject_all = mean(verify_s) * total if verify_s else 0.0
        fixed = sum(seconds[p] for p in PHASES if p != "verification")
        figures.update(
            verification_all_s=per_subject_all,
            verify_batched_s=meter.seconds[BATCHED],
            total_s=fixed + per_subject_all,
            total_batched_s=fixed + meter.seconds[BATCHED],
        )
        batched_ok = sum(all(v.ok for v in vs) for vs in batched.values())
        return {
            "setup_s": setup_s,
            "subjects": total,
            "register_s": register_s,
            **figures,
            **_found([f for by_subject in found for f in by_subject.values()]),
            "changed": sum(o["changed"] for o in outcomes),
            "verified": sum(o["verified"] for o in outcomes),
            "verified_batched": batched_ok,
            "unexpected": sum(o["unexpected"] for o in outcomes),
            "remaining": sum(o["remaining"] for o in outcomes),
            "touched": {e.region: t for e, t in zip(erasers, touched, strict=True)},
            "verify_per_subject_s": _spread(verify_s),
            "proof_per_subject_s": _spread(proof_s),
            "proofs": len(proof_s),
            "peak_mb": dict(peaks.mb),
            "peak_reset": peaks.resettable,
            "physical": _physical_figures(log, connectors),
        }
