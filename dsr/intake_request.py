"""What support asks for, before any check: importable without the databases' code (the
command line builds it while it starts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dsr.request_kinds import RequestType, Scope


class IntakeError(ValueError):
    """A request that cannot be accepted as given; the message tells support what to fix."""


@dataclass(frozen=True)
class IntakeRequest:
    type: RequestType
    emails: Sequence[str]
    scope: Scope = Scope.USER_ACCOUNT
    phones: Sequence[str] = ()
    names: Sequence[str] = ()
    client_id: str | None = None
    authorization_ref: str | None = None
    ticket_ref: str | None = None
    channel: str = "cli"
    verified_by: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
