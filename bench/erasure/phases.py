"""The single-subject erasures, run in a fresh spawned process on a fresh copy of the CRM.

``single``: subject by subject, the production path: ``resolve_across`` over every region, then
per region ``find`` and ``CrmEraser.erase`` (plan, one transaction, physical cleanup, re-search),
then one signed proof (``bench.erasure.batch`` has the batch). The helpers here serve both; the
figures are plain JSON-able data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any

from bench.erasure.desk import Desk
from bench.erasure.meter import (
    Meter,
    Peaks,
    StatementLog,
    TimedConnector,
    TimedEraser,
    relation_sizes_mb,
)
from connectors.base import EMAIL, Findings
from connectors.crm.datamap import DataMap, load_datamap
from connectors.crm.sql import CrmSqlConnector, resolve_across
from connectors.identities import parse_identity
from dsr.erasure.crm import CrmEraser, ErasureResult
from resources.engines import engine_for

Tick = Callable[[int, int, str], None]
NOBODY = "nobody.bench.warmup@example.com"


def _setup(
    spec: dict[str, Any], cls: type[CrmEraser], desk: Desk, scopes: set[tuple[str, str | None]]
) -> tuple[DataMap, list[CrmSqlConnector], list[Any], StatementLog, float]:
    """Connectors and erasers on the engines production uses. Tables are reflected, the data map
    checked and one search for nobody run per scope first, so the figures are the erasure's and
    not a cold start's (reflection, statement compilation); their cost is ``setup_s``."""
    start = perf_counter()
    dm = load_datamap(spec["datamap"])
    connectors = [TimedConnector(r, engine_for(u), dm) for r, u in spec["urls"].items()]
    erasers = [cls(c, hasher=desk.keys.keyed_hash, physical=spec["physical"]) for c in connectors]
    for c, e in zip(connectors, erasers, strict=True):
        for name in dm.tables:
            c.table(name)
        e.check()
    nobody = {"nobody": {parse_identity(EMAIL, NOBODY)}}
    for scope, cid in sorted(scopes, key=str):
        resolved = resolve_across(connectors, nobody, scope=scope, client_id=cid)
        for c in connectors:
            c.find(resolved, scope=scope, client_id=cid)
    log = StatementLog()
    log.listen([c.engine for c in connectors])
    return dm, connectors, erasers, log, perf_counter() - start


def _physical_figures(log: StatementLog, connectors: Sequence[CrmSqlConnector]) -> dict[str, Any]:
    sizes: dict[str, float] = {}
    for c in connectors:  # the largest copy of each relation over the regions
        for name, mb in relation_sizes_mb(c.engine, log.targets()).items():
            sizes[name] = max(sizes.get(name, 0.0), mb)
    return {"statements": dict(log.seconds), "calls": dict(log.calls), "sizes_mb": sizes}


def _found(found: Sequence[Findings]) -> dict[str, int]:
    return {
        "rows_found": sum(len(f.rows) for f in found),
        "mentions_found": sum(len(f.mentions) for f in found),
    }


def _outcome(results: Sequence[ErasureResult]) -> dict[str, Any]:
    return {
        "changed": sum(r.changed for r in results),
        "verified": all(r.verification.ok for r in results),
        "remaining": sum(len(r.verification.remaining) for r in results),
        "unexpected": sum(len(r.verification.unexpected) for r in results),
        "touched": {r.region: r.physically_cleaned for r in results},
    }


def single(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    peaks = Peaks()
    records: list[dict[str, Any]] = []
    subjects = spec["subjects"]
    with Desk() as desk:
        scopes = {(s["scope"], s["client_id"]) for s in subjects}
        _, connectors, erasers, log, setup_s = _setup(spec, TimedEraser, desk, scopes)
        for n, s in enumerate(subjects):
            tick(n, len(subjects), f"{s['key']} ({s['scope']})")
            scope, cid = s["scope"], s["client_id"]
            start = perf_counter()
            rid = desk.register(s["email"], scope, cid)
            register_s = perf_counter() - start
            meter = Meter(peaks)
            with meter("discovery"):
                ids = {rid: {parse_identity(EMAIL, s["email"])}}
                began = perf_counter()
                resolved = resolve_across(connectors, ids, scope=scope, client_id=cid)
                resolve_s = perf_counter() - began
                found = [c.find(resolved, scope=scope, client_id=cid)[rid] for c in connectors]
            results = []
            for eraser, findings in zip(erasers, found, strict=True):
                eraser.meter = meter
                results.append(eraser.erase(findings, resolved[rid], scope=scope, client_id=cid))
            outcome = _outcome(results)
            if outcome["verified"]:
                with meter("proof"):
                    desk.issue(rid, results)
            records.append(
                {
                    "subject": s["key"],
                    "scope": scope,
                    **meter.figures(),
                    "register_s": register_s,
                    "resolve_s": resolve_s,
                    **_found(found),
                    **outcome,
                }
            )
        tick(len(subjects), len(subjects), "done")
        physical = _physical_figures(log, connectors)
    return {
        "setup_s": setup_s,
        "records": records,
        "peak_mb": dict(peaks.mb),
        "peak_reset": peaks.resettable,
        "physical": physical,
    }
