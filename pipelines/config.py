"""The typed forms support fills in the Launchpad; descriptions show beside each field."""

from enum import StrEnum

from dagster import Config
from pydantic import Field


class RequestScope(StrEnum):
    user_account = "user_account"
    client_data = "client_data"


class IntakeConfig(Config):
    """Who the request is about and on whose authority; shared by every request form."""

    email: str = Field(description="The person's e-mail address (required)")
    other_emails: list[str] = Field(
        default_factory=list, description="Further e-mail addresses the person uses"
    )
    phone: str = Field(default="", description="Optional phone number, any format (+country)")
    name: str = Field(default="", description="Optional full name, used to find mentions")
    scope: RequestScope = Field(
        default=RequestScope.user_account,
        description=(
            "user_account: the person's own iNextCRM account data (we are controller). "
            "client_data: data a Client stores about the person (the Client is controller): "
            "needs client_id and authorization_ref"
        ),
    )
    client_id: str = Field(default="", description="The Client (tenant) id, for client_data")
    authorization_ref: str = Field(
        default="", description="Reference of the Client's documented instruction (client_data)"
    )
    ticket_ref: str = Field(default="", description="Support ticket reference, e.g. SUP-1234")


class AccessIntakeConfig(IntakeConfig):
    """Register an access (or portability) request; fulfilment then runs by request id."""

    portability: bool = Field(
        default=False, description="Art. 20 portability request rather than Art. 15 access"
    )


class ErasureIntakeConfig(IntakeConfig):
    """Register an erasure request, or preview one (dry_run) without registering anything."""

    identity_verified_by: str = Field(
        default="",
        description="Staff handle of who verified the person's identity. A user_account "
        "erasure runs only once this is recorded (here or with `dsr verify-identity`)",
    )
    dry_run: bool = Field(
        default=False,
        description="Only show what would be deleted, anonymised, redacted and kept; "
        "registers and changes nothing",
    )


class RectificationIntakeConfig(IntakeConfig):
    """Register a rectification: the corrected values, per rectifiable field."""

    changes: list[str] = Field(
        description="Corrections as field=value, e.g. phone=+14155550100 (fields the data map "
        "marks as rectifiable)"
    )
    identity_verified_by: str = Field(
        default="", description="Staff handle of who verified the person's identity"
    )


class OptOutIntakeConfig(IntakeConfig):
    """Register a marketing opt-out: suppression in every region within 10 business days.

    user_account stops iNextCRM's own marketing to a User or Visitor; client_data sets a Client's
    do-not-market flag on its customer, on the Client's documented instruction only.
    """


class RestrictionGrounds(StrEnum):
    accuracy_contested = "accuracy_contested"
    unlawful_processing = "unlawful_processing"
    legal_claims = "legal_claims"
    objection_pending = "objection_pending"


class RestrictionIntakeConfig(IntakeConfig):
    """Register a restriction of processing (Art. 18), or an objection (Art. 21) being weighed."""

    grounds: RestrictionGrounds = Field(
        description="Art. 18(1): accuracy_contested (a), unlawful_processing (b), legal_claims "
        "(c), objection_pending (d: an Art. 21 objection while it is weighed)"
    )
    identity_verified_by: str = Field(
        default="",
        description="Staff handle of who verified the person's identity. A user_account "
        "restriction runs only once this is recorded (here or with `dsr verify-identity`)",
    )
