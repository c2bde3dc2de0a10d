"""The kinds, scopes and states of a request: plain enums, importable without the ledger (the
command line declares its options with them before it opens any database)."""

from __future__ import annotations

from enum import StrEnum


class RequestType(StrEnum):
    ACCESS = "access"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    PORTABILITY = "portability"
    OPT_OUT = "opt_out"
    # Art. 18 restriction, and Art. 21(1) objection while it is weighed: storage only.
    RESTRICTION = "restriction"


class Scope(StrEnum):
    USER_ACCOUNT = "user_account"
    CLIENT_DATA = "client_data"


class State(StrEnum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    FULFILLED = "fulfilled"
    FAILED = "failed"
    REFUSED = "refused"
    # A fulfilled restriction no longer in force (Art. 18(3)); only a restriction gets here.
    LIFTED = "lifted"
