"""What a bundle is built for: one request's id, kind, scope and dates.

Its own module so that ``dsr.bundle.build`` (which renders the summary) and
``dsr.bundle.summary`` (which shows the request) both import it and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class BundleRequest:
    request_id: str
    request_type: str
    scope: str
    client_id: str | None
    received_at: datetime
    due_at: datetime
