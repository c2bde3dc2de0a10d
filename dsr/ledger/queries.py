"""The ledger's read-only questions about many requests at once (lists, counts, due dates)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Engine, func, select

from dsr.ledger.records import OPEN_STATES, RequestRecord, record_from_row
from dsr.ledger.schema import State, audit_log, requests
from dsr.times import utc


class LedgerQueries:
    """Mixed into ``Ledger``: needs only its engine."""

    _engine: Engine

    def list_requests(self, *, states: Collection[State] | None = None) -> list[RequestRecord]:
        query = select(requests).order_by(requests.c.received_at, requests.c.request_id)
        if states is not None:
            query = query.where(requests.c.state.in_([State(s).value for s in states]))
        with self._engine.connect() as conn:
            return [record_from_row(row) for row in conn.execute(query)]

    def requests_of_subject(self, subject_hash: str) -> list[RequestRecord]:
        """Every request about one person (by the keyed hash of the primary e-mail), oldest
        first: an index lookup, where filtering ``list_requests`` read the whole ledger once per
        erasure (quadratic over a batch)."""
        query = (
            select(requests)
            .where(requests.c.subject_hash == subject_hash)
            .order_by(requests.c.received_at, requests.c.request_id)
        )
        with self._engine.connect() as conn:
            return [record_from_row(row) for row in conn.execute(query)]

    def find_requests(
        self,
        *,
        states: Collection[State] | None = None,
        types: Collection[str] | None = None,
        due_by: datetime | None = None,
        limit: int | None = None,
    ) -> list[RequestRecord]:
        """Requests matching every filter given, soonest due first (``dsr requests``)."""
        query = select(requests).order_by(requests.c.due_at, requests.c.request_id)
        if states is not None:
            query = query.where(requests.c.state.in_([State(s).value for s in states]))
        if types is not None:
            query = query.where(requests.c.type.in_([str(t) for t in types]))
        if due_by is not None:
            query = query.where(requests.c.due_at <= utc(due_by))
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            return [record_from_row(row) for row in conn.execute(query)]

    def open_requests_due_by(self, horizon: datetime) -> list[RequestRecord]:
        """Open requests due at or before ``horizon``: all a deadline check needs to read."""
        query = (
            select(requests)
            .where(
                requests.c.state.in_([s.value for s in OPEN_STATES]),
                requests.c.due_at <= utc(horizon),
            )
            .order_by(requests.c.due_at, requests.c.request_id)
        )
        with self._engine.connect() as conn:
            return [record_from_row(row) for row in conn.execute(query)]

    def count_requests(self, *, states: Collection[State]) -> int:
        query = select(func.count()).where(requests.c.state.in_([State(s).value for s in states]))
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def without_event(self, event: str, *, states: Collection[State]) -> list[RequestRecord]:
        """Requests in ``states`` whose audit log has no ``event`` entry (one indexed query)."""
        has = select(audit_log.c.seq).where(
            audit_log.c.request_id == requests.c.request_id, audit_log.c.event == event
        )
        query = (
            select(requests)
            .where(requests.c.state.in_([State(s).value for s in states]), ~has.exists())
            .order_by(requests.c.received_at, requests.c.request_id)
        )
        with self._engine.connect() as conn:
            return [record_from_row(row) for row in conn.execute(query)]

    def states_of(self, request_ids: Collection[str]) -> dict[str, int]:
        """state -> how many of these requests are in it (one query per 500 ids)."""
        ids = list(request_ids)
        counts: dict[str, int] = {}
        with self._engine.connect() as conn:
            for start in range(0, len(ids), 500):
                query = (
                    select(requests.c.state, func.count())
                    .where(requests.c.request_id.in_(ids[start : start + 500]))
                    .group_by(requests.c.state)
                )
                for state, n in conn.execute(query):
                    counts[state] = counts.get(state, 0) + int(n)
        return counts
