"""The request ledger: requests, their deadlines and state, and the hash-chained audit log."""

from dsr.ledger.audit import AuditEntry, ChainReport
from dsr.ledger.dates import add_business_days, business_days_between, due_date
from dsr.ledger.guard import ChainBroken
from dsr.ledger.ledger import Ledger
from dsr.ledger.records import (
    REQUEST_ID_PATTERN,
    IdentitiesForgotten,
    InvalidTransition,
    LedgerError,
    RequestRecord,
    RequestRefused,
    UnknownRequest,
)
from dsr.ledger.schema import RequestType, Scope, State

__all__ = [
    "REQUEST_ID_PATTERN",
    "AuditEntry",
    "ChainBroken",
    "ChainReport",
    "IdentitiesForgotten",
    "InvalidTransition",
    "Ledger",
    "LedgerError",
    "RequestRecord",
    "RequestRefused",
    "RequestType",
    "Scope",
    "State",
    "UnknownRequest",
    "add_business_days",
    "business_days_between",
    "due_date",
]
