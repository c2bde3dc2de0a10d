"""The typed forms support fills in the Launchpad; descriptions show beside each field.

Every field has a default, so the Launchpad opens on a form Dagster accepts ("No errors"): types
and enums are checked by Dagster before launch, the rest (an empty or malformed e-mail, an unknown
Client) by the intake step, which fails with one sentence naming the field.
"""

from enum import StrEnum

from dagster import Config
from pydantic import Field


class RequestScope(StrEnum):
    user_account = "user_account"
    client_data = "client_data"


class IntakeConfig(Config):
    """Who the request is about and on whose authority; shared by every request form."""

    email: str = Field(
        default="",
        description="The person's e-mail address (required: the run refuses an empty one)",
    )
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
            "needs client and authorization_ref"
        ),
    )
    client: str = Field(
        default="",
        description="The Client (tenant), by its name (e.g. Northwind Traders) or its id, for "
        "client_data only; an unknown name is refused with the closest names",
    )
    authorization_ref: str = Field(
        default="", description="Reference of the Client's documented instruction (client_data)"
    )
    ticket_ref: str = Field(default="", description="Support ticket reference, e.g. SUP-1234")


class AccessKind(StrEnum):
    access = "access"
    portability = "portability"


class AccessIntakeConfig(IntakeConfig):
    """Register an access (or portability) request; fulfilment then runs by request id."""

    kind: AccessKind = Field(
        default=AccessKind.access,
        description="access: Art. 15, a copy of the person's data with the Art. 15 information. "
        "portability: Art. 20, the data the person gave us, machine-readable (JSON and CSV)",
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
        default_factory=list,
        description="Corrections as field=value, e.g. phone=+14155550100 (fields the data map "
        "marks as rectifiable); at least one",
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

    grounds: RestrictionGrounds | None = Field(
        default=None,
        description="Required. Art. 18(1): accuracy_contested (a), unlawful_processing (b), "
        "legal_claims (c), objection_pending (d: an Art. 21 objection while it is weighed)",
    )
    identity_verified_by: str = Field(
        default="",
        description="Staff handle of who verified the person's identity. A user_account "
        "restriction runs only once this is recorded (here or with `dsr verify-identity`)",
    )


class ListKind(StrEnum):
    """The kinds ``dsr … --from-csv`` registers in bulk: the others need a form per person."""

    access = "access"
    portability = "portability"
    erasure = "erasure"
    opt_out = "opt_out"


class Person(Config):
    """One person on the list; an empty field takes the list form's shared field."""

    email: str = Field(description="The person's e-mail address (required)")
    phone: str = Field(default="", description="Optional phone number, any format (+country)")
    name: str = Field(default="", description="Optional full name, used to find mentions")
    scope: RequestScope | None = Field(
        default=None, description="This person's scope, if not the form's scope"
    )
    client: str = Field(
        default="", description="This person's Client (name or id), if not the form's client"
    )
    authorization_ref: str = Field(
        default="", description="This person's Client instruction, if not the form's"
    )
    ticket_ref: str = Field(default="", description="This person's ticket, if not the form's")
    identity_verified_by: str = Field(
        default="",
        description="Who verified this person's identity (erasure), if not the form's",
    )


class ListIntakeConfig(Config):
    """Register one request per person on a list, all of one kind; bad entries are refused by
    their position and register nothing, the others are registered."""

    kind: ListKind = Field(
        default=ListKind.access,
        description="access (Art. 15), portability (Art. 20), erasure (Art. 17) or opt_out "
        "(marketing): one request of this kind per person",
    )
    people: list[Person] = Field(
        default_factory=list,
        description="The people, each with at least an email, e.g. [{email: a@example.com}, "
        "{email: b@example.com, phone: '+14155550100', ticket_ref: SUP-2}]",
    )
    scope: RequestScope = Field(
        default=RequestScope.user_account,
        description="Every person's scope unless their own says otherwise: user_account (their "
        "own account) or client_data (a Client's data: needs client and authorization_ref)",
    )
    client: str = Field(
        default="",
        description="The Client (tenant) by name or id, for client_data; a person's own client "
        "replaces it",
    )
    authorization_ref: str = Field(
        default="", description="Reference of the Client's documented instruction (client_data)"
    )
    ticket_ref: str = Field(default="", description="Support ticket reference, e.g. SUP-1234")
    identity_verified_by: str = Field(
        default="",
        description="Staff handle of who verified the people's identities. A user_account "
        "erasure runs only once this is recorded (here, per person, or `dsr verify-identity`)",
    )
