"""The data map's account-level sections: who answers for the data, and where Clients, their
connected services and closable accounts are recorded. ``connectors.crm.datamap`` documents the
file."""

from __future__ import annotations

import phonenumbers
from pydantic import BaseModel, ConfigDict, field_validator


class Strict(BaseModel):
    """Every data-map section: unknown keys are errors, so a typo never silently means nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_country(value: str | None) -> str | None:
    """An ISO 3166 country code phone numbers can be read in (``NL``), or None."""
    if value is None:
        return None
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not an ISO country code phone numbers can be read in")
    return code


class Controller(Strict):
    name: str
    contact: str
    dpo: str = ""
    complaint: str = ""
    # What the person knows the service as ("iNextCRM"); the summary says "the service" without.
    service: str = ""


class Policy(Strict):
    """The operator's privacy policy, as the person's summary cites it (never wording in code).

    Each reference is the text after the policy's name, such as ``sections 2.2 and 15``; a
    reference left out is simply not cited.
    """

    name: str = "our privacy policy"
    url: str = ""
    client_data: str = ""  # where the policy says the operator is only the Client's processor
    backups: str = ""  # where it says how long backups are kept
    transfers: str = ""  # where it says where data is stored and how transfers are protected
    backup_retention: str = ""  # how long backups are kept, in words ("one month")


class Region(Strict):
    """A hosting region: its display name, and the country its phone numbers are read in."""

    name: str
    phone_country: str | None = None

    @field_validator("phone_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        return check_country(value)


class TenantTable(Strict):
    """Where a Client (tenant) is registered: lets intake refuse an unknown client id."""

    table: str
    id_column: str = "id"
    status_column: str | None = None
    # What a breach notice to the Client needs: its name and whom to write to.
    name_column: str | None = None
    contact_column: str | None = None
    # Each Client's country (ISO code): phone numbers in its tenant's rows written without a
    # country code are read there, unless the table or the row says otherwise.
    phone_country_column: str | None = None


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
