"""Which open requests are due soon or overdue: the facts a deadline alert is made of.

GDPR Art. 12(3) gives one month (two more with a notified extension); the opt-out promise gives
ten business days. Either way the ledger's ``due_at`` is the deadline, so one rule serves all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from dsr.ledger.ledger import Ledger
from dsr.ledger.records import OPEN_STATES, RequestRecord
from dsr.times import utc


class Urgency(StrEnum):
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class DeadlineAlert:
    request_id: str
    type: str
    state: str
    due_at: datetime
    urgency: Urgency
    hours_left: int  # negative once overdue

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "type": self.type,
            "state": self.state,
            "due_at": self.due_at.isoformat(),
            "urgency": self.urgency.value,
            "hours_left": self.hours_left,
        }


def deadline_alerts(
    records: Iterable[RequestRecord], now: datetime, warn_days: int
) -> list[DeadlineAlert]:
    """Open requests due within ``warn_days`` of ``now`` or past due, most urgent first."""
    if warn_days < 0:
        raise ValueError("warn_days must not be negative")
    now = utc(now)
    horizon = now + timedelta(days=warn_days)
    alerts = []
    for record in records:
        if record.state not in OPEN_STATES:
            continue
        due = utc(record.due_at)
        if due > horizon:
            continue
        alerts.append(
            DeadlineAlert(
                request_id=record.request_id,
                type=str(record.type),
                state=str(record.state),
                due_at=due,
                urgency=Urgency.OVERDUE if due < now else Urgency.DUE_SOON,
                hours_left=int((due - now).total_seconds() // 3600),
            )
        )
    return sorted(alerts, key=lambda a: (a.due_at, a.request_id))


def late_requests(ledger: Ledger, now: datetime, warn_days: int) -> list[DeadlineAlert]:
    """The alerts at ``now``, reading only the open requests due within the window."""
    horizon = utc(now) + timedelta(days=warn_days)
    return deadline_alerts(ledger.open_requests_due_by(horizon), now, warn_days)
