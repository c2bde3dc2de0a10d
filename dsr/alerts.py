"""Deadline alerts to an operator's webhook (chat, paging, ticketing): JSON, ids and dates only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from dsr.ledger.deadlines import DeadlineAlert, Urgency


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept the alert after retries."""


def alert_payload(alerts: Sequence[DeadlineAlert], now: datetime, warn_days: int) -> dict[str, Any]:
    overdue = [a for a in alerts if a.urgency is Urgency.OVERDUE]
    soon = [a for a in alerts if a.urgency is Urgency.DUE_SOON]
    return {
        "source": "inextcrm-dsr",
        "kind": "request_deadlines",
        "checked_at": now.isoformat(),
        "text": (
            f"{len(overdue)} data-subject request(s) overdue, {len(soon)} due within "
            f"{warn_days} days"
        ),
        "overdue": [a.as_dict() for a in overdue],
        "due_soon": [a.as_dict() for a in soon],
    }


class _Retryable(Exception):
    pass


@retry(
    retry=retry_if_exception_type(_Retryable),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.5, max=4),
    reraise=True,
)
def _post(client: httpx.Client, url: str, payload: dict[str, Any]) -> None:
    try:
        response = client.post(url, json=payload)
    except httpx.TransportError as exc:
        raise _Retryable(f"{exc.__class__.__name__}: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise _Retryable(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise AlertDeliveryError(f"the webhook refused the alert: HTTP {response.status_code}")


def post_alert(url: str, payload: dict[str, Any], *, timeout: float = 10.0) -> None:
    """POST the alert; retries network errors, 429 and 5xx, then raises AlertDeliveryError."""
    with httpx.Client(timeout=timeout) as client:
        try:
            _post(client, url, payload)
        except _Retryable as exc:
            raise AlertDeliveryError(f"the webhook did not accept the alert: {exc}") from exc
