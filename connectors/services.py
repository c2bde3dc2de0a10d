"""What every integrated-service connector (Google, Dropbox, GoToMeeting) shares.

A service connector works on one connected account of one Client (a row of the CRM's
``integrations`` table) and follows the same protocol as the CRM connector:
find → export → erase → verify. Findings reuse ``connectors.base.Findings``: ``system`` is the
service, ``region`` the hosting region of the Client, and each item is a ``FoundRow`` whose
``RowRef.table`` is the item kind ("contacts", "events", "files", "meetings", ...) and whose
``pk`` is the service's own id. File content travels in ``data["content"]`` (bytes) with
``data["filename"]``.

What a service's API cannot erase is never reported as done: it is a ``PendingWithProcessor``
with the text of the request we send to the processor.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from connectors.base import Findings, Identity


class ServiceError(RuntimeError):
    """A service could not be searched or erased; the message names the service and account
    label (never an identity) and says what to do."""


class CredentialError(ServiceError):
    """A credential is missing, expired or refused (HTTP 401)."""


@dataclass(frozen=True)
class ServiceAccount:
    """One connected account of one Client: what the CRM's integrations table says."""

    integration_id: str
    client_id: str
    region: str
    kind: str  # google | dropbox | gotomeeting
    account: str  # the account's own name at the service (an address of the Client's)
    credential_ref: str  # e.g. vault://integrations/us/northwind/google — never the secret
    # Where the account's phone numbers written without a country code are read: the Client's
    # country (connectors.crm.phone_countries), else its hosting region's.
    phone_country: str = "US"

    @property
    def label(self) -> str:
        """Safe to log: the integration's id, not the account address."""
        return f"{self.kind}#{self.integration_id}"


@dataclass
class PendingWithProcessor:
    """Something only the processor can erase: requested, not done."""

    system: str
    what: str  # e.g. "attendee history of 3 past meetings"
    request_text: str  # the request we send, without the person's identity in clear
    requested_at: str  # ISO-8601


@dataclass
class ServiceErasure:
    system: str
    account: str  # ServiceAccount.label
    applied: dict[str, dict[str, int]]  # item kind -> action (deleted/updated/...) -> count
    pending: list[PendingWithProcessor] = field(default_factory=list)


@dataclass
class ServiceVerification:
    ok: bool
    remaining: dict[str, int]  # item kind -> items still found that should be gone


class ServiceConnector(Protocol):
    system: str
    account: ServiceAccount

    def find(self, identities: set[Identity]) -> Findings: ...

    def erase(self, findings: Findings, identities: set[Identity]) -> ServiceErasure: ...

    def verify(self, identities: set[Identity]) -> ServiceVerification: ...


class CredentialStore:
    """Resolves a credential reference to its secret, from the environment or a folder.

    ``vault://integrations/us/northwind/google`` is looked up as the environment variable
    ``DSR_CREDENTIAL_INTEGRATIONS_US_NORTHWIND_GOOGLE``, then as the file
    ``<folder>/integrations/us/northwind/google``. Secrets never come from run config.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def secret(self, ref: str) -> str:
        path = ref.removeprefix("vault://").strip("/")
        if not path or ".." in path.split("/"):
            raise CredentialError(f"credential reference {ref!r} is not a vault path")
        env = "DSR_CREDENTIAL_" + re.sub(r"[^A-Z0-9]+", "_", path.upper())
        if os.environ.get(env):
            return os.environ[env].strip()
        file = self.folder / path
        if file.is_file():
            return file.read_text(encoding="utf-8").strip()
        raise CredentialError(f"no credential for {ref}: set {env} or write it to {file}")
