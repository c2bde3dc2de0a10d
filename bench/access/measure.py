"""Timing of discovery through the production path, with counters that do not change it.

``MeteredConnector`` only counts the rows its parent's queries return; the stage breakdown comes
from the ``progress`` callback ``find`` already calls after every table, so no code is patched to
see where a request spends its time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from bench.subjects import Subject
from connectors.base import Findings, Identity
from connectors.crm.datamap import DataMap
from connectors.crm.sql import CrmSqlConnector, resolve_across
from connectors.free_text import MentionMatcher
from connectors.identities import parse_identity
from resources.engines import engine_for

_statements: dict[int, int] = defaultdict(int)


@dataclass
class Meter:
    lookup_rows: int = 0  # rows returned by identity and reference lookups
    text_rows: int = 0  # free-text rows streamed into Python for the mention matcher

    def reset(self) -> None:
        self.lookup_rows = self.text_rows = 0


class MeteredConnector(CrmSqlConnector):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meter = Meter()

    def _select_in(self, *args: Any, **kwargs: Any) -> Iterator[dict]:
        for row in super()._select_in(*args, **kwargs):
            self.meter.lookup_rows += 1
            yield row

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for row in super()._stream(*args, **kwargs):
            self.meter.text_rows += 1
            yield row


def _count_statement(conn: Any, *_args: Any) -> None:
    _statements[id(conn.engine)] += 1


def connectors_for(urls: dict[str, str], dm: DataMap) -> list[MeteredConnector]:
    """One connector per region on the engines production uses (``resources.engines``)."""
    out = []
    for region, url in urls.items():
        engine = engine_for(url)
        if not event.contains(engine, "before_cursor_execute", _count_statement):
            event.listen(engine, "before_cursor_execute", _count_statement)
        out.append(MeteredConnector(region, engine, dm))
    return out


def statements(engines: list[Engine]) -> int:
    return sum(_statements[id(e)] for e in engines)


class StageClock:
    """A ``progress`` callback: the time since the previous call belongs to the stage reported."""

    def __init__(self) -> None:
        self.last = perf_counter()
        self.spent: dict[str, float] = defaultdict(float)

    def __call__(self, stage: str, _done: int, _total: int) -> None:
        now = perf_counter()
        self.spent[stage.split(" round")[0]] += now - self.last
        self.last = now


@dataclass
class Discovery:
    seconds: float
    resolve_s: float
    stages: dict[str, float]  # identities / references / mentions / other, summed over regions
    rows: int
    mentions: int
    lookup_rows: int
    text_rows: int
    statements: int
    resolve_statements: int  # of ``statements``, those resolve_across sent
    terms: int  # prefilter terms of the largest region's matcher
    findings: dict[str, list[Findings]] = field(repr=False)

    def figures(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "findings"}


def identities_of(subjects: list[Subject]) -> dict[str, set[Identity]]:
    return {s.key: {parse_identity("email", s.email)} for s in subjects}


def discover(
    connectors: list[MeteredConnector],
    subjects: dict[str, set[Identity]],
    *,
    scope: str,
    client_id: str | None,
) -> Discovery:
    """``resolve_across`` then ``find`` per region, as the discovery assets run them."""
    engines = [c.engine for c in connectors]
    for c in connectors:
        c.meter.reset()
    before = statements(engines)
    start = perf_counter()
    resolved = resolve_across(connectors, subjects, scope=scope, client_id=client_id)
    resolve_s = perf_counter() - start
    resolve_statements = statements(engines) - before
    stages: dict[str, float] = defaultdict(float)
    found: dict[str, list[Findings]] = defaultdict(list)
    terms = 0
    for c in connectors:
        clock = StageClock()
        began = clock.last
        by_subject = c.find(resolved, scope=scope, client_id=client_id, progress=clock)
        ended = perf_counter()
        for stage, spent in clock.spent.items():
            stages[stage] += spent
        stages["other"] += (ended - began) - sum(clock.spent.values())
        for key, f in by_subject.items():
            found[key].append(f)
        idents = {i for f in by_subject.values() for i in f.identities}
        # None: some identity has no ASCII part to filter on, so every text is streamed.
        prefilter = MentionMatcher(idents).prefilter_terms()
        terms = max(terms, len(prefilter) if prefilter is not None else 0)
    seconds = perf_counter() - start
    flat = [f for fs in found.values() for f in fs]
    return Discovery(
        seconds=seconds,
        resolve_s=resolve_s,
        stages=dict(stages),
        rows=sum(f.total_rows for f in flat),
        mentions=sum(len(f.mentions) for f in flat),
        lookup_rows=sum(c.meter.lookup_rows for c in connectors),
        text_rows=sum(c.meter.text_rows for c in connectors),
        statements=statements(engines) - before,
        resolve_statements=resolve_statements,
        terms=terms,
        findings=dict(found),
    )


def text_rows_in_scope(
    connectors: list[MeteredConnector], scope: str, client_id: str | None
) -> int:
    """Free-text rows the database must read for one mention search: the tenant, or all rows."""
    total = 0
    for c in connectors:
        tables, _ = c.tables_in_scope(scope)
        with c.engine.connect() as conn:
            for name in tables:
                tmap = c.datamap.tables[name]
                if not tmap.free_text:
                    continue
                table = c.table(name)
                query = select(func.count()).select_from(table)
                tenant = c._tenant_clause(table, tmap, client_id)
                if tenant is not None:
                    query = query.where(tenant)
                total += int(conn.execute(query).scalar_one())
    return total
