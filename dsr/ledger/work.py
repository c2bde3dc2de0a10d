"""What a request's attempts must share: recorded once, encrypted, forgotten with the request.

A request that changes data (erasure, rectification, opt-out, restriction) resolves the person's
identities once, before its first change, and records them here with the Clients reached; every
later attempt — a re-run, a resume after a crash, the sensor after a failure — works from that
record, never from a fresh resolution against a database its first attempt already changed.
Each region's erasure plan (the row keys it will change) is recorded before its transaction, so
a resumed attempt can tell whether an attempt that died around its commit committed.

Values are Fernet tokens (the identities' key): row keys and identities are personal data. They
go when the request's cleanup forgets its identities.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, LargeBinary, String, Table, delete, insert, select
from sqlalchemy.engine import Engine

from dsr.keys import KeyRing
from dsr.ledger.schema import WRITE_OPTION, metadata, request_key

request_work = Table(
    "request_work",
    metadata,
    request_key(),
    Column("name", String(100), primary_key=True),
    Column("token", LargeBinary, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

RESOLVED = "resolved"


def plan_name(region: str, attempt: str) -> str:
    return f"plan:{region}:{attempt}"


class WorkStore:
    """The ledger database's ``request_work`` table, through the ledger's keys."""

    def __init__(self, engine: Engine, keys: KeyRing) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._keys = keys

    def put_once(self, request_id: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Record ``data`` under ``name`` unless something is recorded there: the first wins,
        and what is recorded is returned (a racing attempt gets the winner's)."""
        token = self._keys.encrypt(json.dumps(data, sort_keys=True).encode())
        with self._writer.begin() as conn:
            row = conn.execute(self._select(request_id, name)).first()
            if row is not None:
                return self._open(row.token)
            conn.execute(
                insert(request_work).values(
                    request_id=request_id, name=name, token=token, recorded_at=datetime.now(UTC)
                )
            )
        return json.loads(json.dumps(data, sort_keys=True))

    def get(self, request_id: str, name: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = conn.execute(self._select(request_id, name)).first()
        return None if row is None else self._open(row.token)

    def items(self, request_id: str, prefix: str) -> dict[str, dict[str, Any]]:
        query = select(request_work.c.name, request_work.c.token).where(
            request_work.c.request_id == request_id, request_work.c.name.startswith(prefix)
        )
        with self._engine.connect() as conn:
            return {row.name: self._open(row.token) for row in conn.execute(query)}

    def forget(self, request_id: str) -> int:
        with self._writer.begin() as conn:
            result = conn.execute(
                delete(request_work).where(request_work.c.request_id == request_id)
            )
        return int(result.rowcount or 0)

    def _select(self, request_id: str, name: str) -> Any:
        return select(request_work.c.token).where(
            request_work.c.request_id == request_id, request_work.c.name == name
        )

    def _open(self, token: bytes) -> dict[str, Any]:
        return json.loads(self._keys.decrypt(bytes(token)))
