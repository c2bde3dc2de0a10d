"""The measured phases, each run in a fresh process so its peak RSS is its own.

Every phase gets the same ``spec`` (database URLs, the picked cast) and a ``tick`` to report
progress to the parent; it returns plain JSON-able figures.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from bench.access.measure import (
    MeteredConnector,
    connectors_for,
    discover,
    identities_of,
    text_rows_in_scope,
)
from bench.subjects import Cast, Subject
from connectors.crm import match_sql
from connectors.crm.datamap import DataMap, load_datamap
from dsr.bundle import BundleRequest, build_bundle
from dsr.keys import KeyRing

Tick = Callable[[int, int, str], None]
# A constant no term list reaches, and one every non-empty list exceeds: force each strategy.
ALWAYS_PREFILTER = 10**9
NEVER_PREFILTER = 0
SWEEP = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _setup(spec: dict[str, Any], dm: DataMap | None = None) -> tuple[list[MeteredConnector], Cast]:
    dm = dm or load_datamap(spec["datamap"])
    return connectors_for(spec["urls"], dm), Cast.from_dict(spec["cast"])


def _reflect(connectors: list[MeteredConnector]) -> None:
    """Load every table's metadata first, so a phase times queries rather than reflection."""
    for c in connectors:
        for name in c.datamap.tables:
            c.table(name)


def _one(connectors: list[MeteredConnector], s: Subject, scope: str) -> dict[str, Any]:
    d = discover(connectors, identities_of([s]), scope=scope, client_id=s.client_id)
    return {"subject": s.key, **d.figures()}


def single(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    """Single-subject discovery, both scopes; first what a fresh Dagster step pays on top."""
    start = perf_counter()
    dm = load_datamap(spec["datamap"])
    datamap_s = perf_counter() - start
    connectors, cast = _setup(spec, dm)
    start = perf_counter()
    for c in connectors:
        c.validate()
    validate_s = perf_counter() - start
    maria = cast.singles["client_data"][0]
    # The assets build new connectors per step, so each request reflects its tables again.
    cold = _one(connectors, maria, "client_data")["seconds"]
    warm = _one(connectors, maria, "client_data")["seconds"]
    out: dict[str, Any] = {
        "setup": {
            "datamap_load_s": datamap_s,
            "validate_s": validate_s,
            "cold_request_s": cold,
            "warm_request_s": warm,
        },
        "requests": {},
    }
    total = sum(len(v) for v in cast.singles.values())
    done = 0
    for scope, subjects in cast.singles.items():
        records = []
        for s in subjects:
            records.append(_one(connectors, s, scope))
            records[-1]["text_rows_in_scope"] = text_rows_in_scope(connectors, scope, s.client_id)
            done += 1
            tick(done, total, f"{scope} discovery")
        out["requests"][scope] = records
    return out


def bundle(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    connectors, cast = _setup(spec)
    _reflect(connectors)
    total = sum(len(v) for v in cast.singles.values())
    done = 0
    out: dict[str, list[dict[str, Any]]] = {}
    received = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        keys = KeyRing(Path(tmp) / "keys")
        keys.signing_key  # noqa: B018 - key generation is a one-off, not a bundle's cost
        dms = {"crm": connectors[0].datamap}
        for scope, subjects in cast.singles.items():
            records = []
            for n, s in enumerate(subjects):
                d = discover(connectors, identities_of([s]), scope=scope, client_id=s.client_id)
                request = BundleRequest(
                    f"bench-{scope}-{n}",
                    "access",
                    scope,
                    s.client_id,
                    received,
                    received + timedelta(days=30),
                )
                start = perf_counter()
                result = build_bundle(request, d.findings[s.key], dms, keys, Path(tmp))
                seconds = perf_counter() - start
                records.append(
                    {
                        "subject": s.key,
                        "seconds": seconds,
                        "rows": sum(result.rows_per_system.values()),
                        "mentions": sum(result.mentions_per_system.values()),
                        "files": result.files,
                        "bytes": result.path.stat().st_size,
                    }
                )
                result.path.unlink()
                done += 1
                tick(done, total, f"{scope} bundles")
            out[scope] = records
    return {"requests": out}


def batch(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    connectors, cast = _setup(spec)
    _reflect(connectors)
    out = []
    for i, b in enumerate(cast.batches):
        tick(i, len(cast.batches), f"{b.scope} batch of {len(b.subjects)}")
        d = discover(connectors, identities_of(b.subjects), scope=b.scope, client_id=b.client_id)
        figures = d.figures()
        figures.update(scope=b.scope, subjects=len(b.subjects))
        figures["text_rows_in_scope"] = text_rows_in_scope(connectors, b.scope, b.client_id)
        out.append(figures)
    tick(len(cast.batches), len(cast.batches), "batches")
    return {"batches": out}


def _mention_run(
    connectors: list[MeteredConnector], subjects: list[Subject], scope: str, cid: str | None
) -> dict[str, Any]:
    try:
        d = discover(connectors, identities_of(subjects), scope=scope, client_id=cid)
    except Exception as exc:  # a strategy that cannot run at all is a result, not a crash
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"}
    return {
        "seconds": d.seconds,
        "mentions_s": d.stages.get("mentions", 0.0),
        "terms": d.terms,
        "text_rows": d.text_rows,
        "mentions": d.mentions,
    }


def mentions(spec: dict[str, Any], tick: Tick) -> dict[str, Any]:
    """SQL LIKE pre-filter against streaming all text, forced by the module constant."""
    connectors, cast = _setup(spec)
    _reflect(connectors)
    tenant_batch = next(b for b in cast.batches if b.scope == "client_data")
    sweep = [k for k in SWEEP if k <= len(tenant_batch.subjects)]
    jobs = [
        (f"single {scope}", [s], scope, s.client_id)
        for scope, ss in cast.singles.items()
        for s in ss
    ]
    jobs += [
        (f"sweep {k}", tenant_batch.subjects[:k], "client_data", tenant_batch.client_id)
        for k in sweep
    ]
    jobs += [(f"batch {b.scope}", b.subjects, b.scope, b.client_id) for b in cast.batches]
    saved = match_sql.PREFILTER_MAX_CLAUSES
    out: dict[str, list[dict[str, Any]]] = {"prefilter": [], "stream": []}
    done = 0
    try:
        for strategy, value in (("prefilter", ALWAYS_PREFILTER), ("stream", NEVER_PREFILTER)):
            match_sql.PREFILTER_MAX_CLAUSES = value
            for label, subjects, scope, cid in jobs:
                run = _mention_run(connectors, subjects, scope, cid)
                out[strategy].append({"case": label, "subjects": len(subjects), **run})
                done += 1
                tick(done, 2 * len(jobs), f"{strategy}: {label}")
    finally:
        match_sql.PREFILTER_MAX_CLAUSES = saved
    return {"threshold": saved, **out}
