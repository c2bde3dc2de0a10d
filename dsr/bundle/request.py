"""What a bundle is built for: one request's id, kind, scope and dates.

Its own module so that ``dsr.bundle.build`` (which renders the summary) and
``dsr.bundle.summary`` (which shows the request) both import it and not each other. A deletion
proof states the same of its request, and when it was completed (``dsr.proof.ProofRequest``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from dsr.ledger.records import RequestRecord


@dataclass(frozen=True)
class BundleRequest:
    request_id: str
    request_type: str
    scope: str
    client_id: str | None
    received_at: datetime
    due_at: datetime

    @classmethod
    def of(cls, record: RequestRecord, **more: Any) -> Self:
        """From the request's ledger record; ``more`` are a subclass's own fields."""
        return cls(
            request_id=record.request_id,
            request_type=str(record.type),
            scope=str(record.scope),
            client_id=record.client_id,
            received_at=record.received_at,
            due_at=record.due_at,
            **more,
        )
