"""The data map's account-level sections: who answers for the data, and where Clients, their
connected services and closable accounts are recorded. ``connectors.datamap`` documents the file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Every data-map section: unknown keys are errors, so a typo never silently means nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Controller(Strict):
    name: str
    contact: str
    dpo: str = ""
    complaint: str = ""


class TenantTable(Strict):
    """Where a Client (tenant) is registered: lets intake refuse an unknown client id."""

    table: str
    id_column: str = "id"
    status_column: str | None = None
    # What a breach notice to the Client needs: its name and whom to write to.
    name_column: str | None = None
    contact_column: str | None = None


class IntegrationTable(Strict):
    """Where a Client's connected services are listed: which accounts a request must reach."""

    table: str
    tenant_column: str = "client_id"
    kind_column: str = "kind"
    account_column: str = "account"
    credential_column: str = "credential_ref"


class AccountTable(Strict):
    """Where one kind of account lives and how its closure is recorded.

    An account is closed when ``status_column`` holds ``closed_status``; its contents are purged
    once ``purge_after`` (a period like ``1m``) has passed since the date in ``closed_at_column``.
    """

    table: str
    id_column: str = "id"
    status_column: str
    closed_status: str = "closed"
    closed_at_column: str
    purge_after: str = "1m"


class Accounts(Strict):
    """``tenant``: a Client, whose tenant's rows are purged; ``user``: a person's account, erased
    through the per-person erasure path (its table must hold that person's identities)."""

    tenant: AccountTable | None = None
    user: AccountTable | None = None
