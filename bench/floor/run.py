"""Asking one question both ways, discovery and the hand-written floor, and timing each.

Discovery is what the product runs for a request (``pipelines.batch_common.resolve_together``):
``Resolution.across`` over every region, then ``find`` per region with the state the fixpoint
kept. The floor is a function of open connections (``bench.floor.crm``, ``bench.floor.desk``).
Before any timing, both must name the same rows for every person: the same (region, table,
primary key) of the person's own records, and every mention discovery reports among the rows the
floor's text statements returned. Statements are counted by a ``before_cursor_execute`` listener
on the engines, the ones production builds (``resources.engines``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from statistics import median
from time import perf_counter
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from bench.floor.sql import Found, Place
from bench.report import p95
from connectors.base import EMAIL
from connectors.crm.sql import CrmSqlConnector, Resolution
from connectors.identities import parse_identity

Tick = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Case:
    """One access question: these people (key -> e-mail), in this scope (and Client)."""

    scope: str
    client_id: str | None
    people: dict[str, str]


FloorFn = Callable[[dict[str, Connection], Case], Found]


class Mismatch(AssertionError):
    """The floor and discovery disagree: no ratio may be printed."""


class Statements:
    """Statements sent to a set of engines, counted as the driver receives them, and connection
    checkouts from their pools (on PostgreSQL each checkout is a pre-ping, a round trip the
    statement count does not show)."""

    def __init__(self, engines: list[Engine]) -> None:
        self.count = 0
        self.checkouts = 0
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self._seen)
            event.listen(engine, "checkout", self._checked_out)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    def _checked_out(self, *_args: Any) -> None:
        self.checkouts += 1


@dataclass
class Answer:
    rows: dict[str, set[Place]]
    mentions: dict[str, set[Place]]


def discover(connectors: list[CrmSqlConnector], case: Case) -> Answer:
    subjects = {k: {parse_identity(EMAIL, e)} for k, e in case.people.items()}
    scope, client_id = case.scope, case.client_id
    resolution = Resolution.across(connectors, subjects, scope=scope, client_id=client_id)
    rows: dict[str, set[Place]] = defaultdict(set)
    mentions: dict[str, set[Place]] = defaultdict(set)
    for c in connectors:
        found = c.find(
            resolution.identities,
            scope=scope,
            client_id=client_id,
            state=resolution.states[c.region],
        )
        for key, f in found.items():
            rows[key] |= {(r.ref.region, r.ref.table, r.ref.pk) for r in f.rows}
            mentions[key] |= {(m.ref.region, m.ref.table, m.ref.pk) for m in f.mentions}
    return Answer(rows, mentions)


def floor(engines: dict[str, Engine], fn: FloorFn, case: Case) -> Found:
    """The floor on one connection per region, as discovery holds one per region and call."""
    with ExitStack() as stack:
        conns = {r: stack.enter_context(e.connect()) for r, e in engines.items()}
        return fn(conns, case)


def compare(case: Case, got: Answer, floor_found: Found) -> None:
    for key in case.people:
        mine, theirs = got.rows.get(key, set()), floor_found.rows.get(key, set())
        if mine != theirs:
            only_d = sorted(mine - theirs)[:3]
            only_f = sorted(theirs - mine)[:3]
            raise Mismatch(
                f"{case.scope} {key}: discovery only {only_d}, floor only {only_f} "
                f"({len(mine)} vs {len(theirs)} rows)"
            )
        missing = got.mentions.get(key, set()) - floor_found.mention_candidates
        if missing:
            raise Mismatch(
                f"{case.scope} {key}: mentions the floor did not read: {sorted(missing)}"
            )


@dataclass
class Pair:
    discovery_s: float
    floor_s: float
    discovery_statements: int
    floor_statements: int
    discovery_checkouts: int
    floor_checkouts: int
    rows: int


def timed(
    connectors: list[CrmSqlConnector], fn: FloorFn, counter: Statements, case: Case, flip: bool
) -> Pair:
    """Both ways, once each, checked; ``flip`` runs the floor first (alternated, so neither
    always finds the pages the other just read)."""
    engines = {c.region: c.engine for c in connectors}
    results: dict[str, tuple[float, int, int, Any]] = {}
    order = ("floor", "discovery") if flip else ("discovery", "floor")
    for way in order:
        before, checked = counter.count, counter.checkouts
        start = perf_counter()
        out: Any = discover(connectors, case) if way == "discovery" else floor(engines, fn, case)
        seconds = perf_counter() - start
        results[way] = (seconds, counter.count - before, counter.checkouts - checked, out)
    answer, found = results["discovery"][3], results["floor"][3]
    compare(case, answer, found)
    return Pair(
        discovery_s=results["discovery"][0],
        floor_s=results["floor"][0],
        discovery_statements=results["discovery"][1],
        floor_statements=results["floor"][1],
        discovery_checkouts=results["discovery"][2],
        floor_checkouts=results["floor"][2],
        rows=sum(len(v) for v in answer.rows.values()),
    )


def singles(
    connectors: list[CrmSqlConnector], fn: FloorFn, counter: Statements, cases: list[Case],
    tick: Tick,
) -> dict[str, Any]:  # fmt: skip
    """One person at a time; a warm-up of the first case is not counted."""
    timed(connectors, fn, counter, cases[0], False)
    pairs = []
    for n, case in enumerate(cases):
        pairs.append(timed(connectors, fn, counter, case, bool(n % 2)))
        tick(n + 1, len(cases), f"{case.scope} singles")
    return summarise(pairs, people=1)


def batch(
    connectors: list[CrmSqlConnector], fn: FloorFn, counter: Statements, case: Case
) -> dict[str, Any]:
    """Everyone at once, in one discovery and one floor; then once more the other way round,
    and the faster of each kept (the first call may read pages the second finds cached)."""
    first = timed(connectors, fn, counter, case, False)
    second = timed(connectors, fn, counter, case, True)
    best = Pair(
        min(first.discovery_s, second.discovery_s),
        min(first.floor_s, second.floor_s),
        first.discovery_statements,
        first.floor_statements,
        first.discovery_checkouts,
        first.floor_checkouts,
        first.rows,
    )
    return summarise([best], people=len(case.people))


def summarise(pairs: list[Pair], people: int) -> dict[str, Any]:
    disc = [p.discovery_s / people for p in pairs]
    flo = [p.floor_s / people for p in pairs]
    ratios = [p.discovery_s / p.floor_s for p in pairs if p.floor_s]
    return {
        "people": people,
        "samples": len(pairs),
        "discovery_ms_median": _median(disc) * 1000,
        "discovery_ms_p95": p95(disc) * 1000,
        "floor_ms_median": _median(flo) * 1000,
        "floor_ms_p95": p95(flo) * 1000,
        "ratio_median": _median(ratios),
        "ratio_of_medians": _median(disc) / _median(flo),
        "discovery_statements_median": _median([p.discovery_statements for p in pairs]),
        "floor_statements_median": _median([p.floor_statements for p in pairs]),
        "discovery_checkouts_median": _median([p.discovery_checkouts for p in pairs]),
        "floor_checkouts_median": _median([p.floor_checkouts for p in pairs]),
        "rows": sum(p.rows for p in pairs),
    }


def _median(xs: list[float]) -> float:
    return float(median(xs)) if xs else float("nan")
