"""The request ledger: requests, their deadlines and state, and the hash-chained audit log.

Names load on first use (PEP 562), so a command that only needs a request's kinds or the
holiday calendar does not import SQLAlchemy and the ledger with them.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "AuditEntry": "dsr.ledger.audit",
    "ChainReport": "dsr.ledger.audit",
    "add_business_days": "dsr.ledger.dates",
    "business_days_between": "dsr.ledger.dates",
    "due_date": "dsr.ledger.dates",
    "ChainBroken": "dsr.ledger.guard",
    "Ledger": "dsr.ledger.ledger",
    "REQUEST_ID_PATTERN": "dsr.ledger.records",
    "IdentitiesForgotten": "dsr.ledger.records",
    "InvalidTransition": "dsr.ledger.records",
    "LedgerError": "dsr.ledger.records",
    "RequestRecord": "dsr.ledger.records",
    "RequestRefused": "dsr.ledger.records",
    "UnknownRequest": "dsr.ledger.records",
    "RequestType": "dsr.request_kinds",
    "Scope": "dsr.request_kinds",
    "State": "dsr.request_kinds",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'dsr.ledger' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)


__all__ = sorted(_WHERE)
