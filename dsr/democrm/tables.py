"""The demo CRM: iNextCRM's multi-tenant schema, one database per hosting region.

Every tenant-owned table carries ``client_id``. Foreign keys say what a real CRM enforces: rows a
person owns (activities, notes, e-mails of a contact) must be deleted before the contact; pointers
to the User who *did* something (owner, author, organiser) are ``ON DELETE SET NULL`` because
deleting a User must never delete a Client's records; invoices reference their billing User with
no action, which is why an erasure anonymises users instead of deleting them.

Primary keys are region-disjoint (``dsr.democrm.regions``): the identity fixpoint runs across
regions, so a user id harvested in ``us`` must never equal an unrelated user id in ``eu``.

Indexes are declared on the tables but created by ``create_indexes`` (``dsr.democrm.schema``) after
a bulk load, which is several times faster than maintaining them row by row.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

from connectors.crm.match_sql import match_expression

# SQLite makes only an exact "INTEGER PRIMARY KEY" the rowid; BIGINT would add a second B-tree.
ID = BigInteger().with_variant(Integer(), "sqlite")
EMAIL_LEN = 254

metadata = MetaData()


def _pk() -> Column:
    return Column("id", ID, primary_key=True, autoincrement=True)


def _tenant() -> Column:
    return Column("client_id", ID, ForeignKey("clients.id"), nullable=False)


def _actor(name: str) -> Column:
    """A pointer to the User who did something: not whose data the row is."""
    return Column(name, ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


def _preferences() -> tuple[Column, Column]:
    """A person's do-not-market flag (policy 5.3) and restriction of processing (Art. 18)."""
    return Column("marketing_opt_out", Boolean), Column("processing_restricted", Boolean)


clients = Table(
    "clients",
    metadata,
    _pk(),
    Column("name", String(200), nullable=False),
    Column("region", String(8), nullable=False),
    Column("plan", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("closed_at", DateTime),
    Column("billing_email", String(EMAIL_LEN)),
    Column("created_at", DateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    _pk(),
    _tenant(),
    Column("email", String(EMAIL_LEN)),
    Column("full_name", String(200), nullable=False),
    Column("phone", String(40)),
    Column("role", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("closed_at", DateTime),
    Column("date_of_birth", Date),
    Column("parental_consent", Boolean),
    *_preferences(),
    Column("locale", String(16)),
    Column("last_login_ip", String(45)),
    Column("last_login_at", DateTime),
    Column("created_at", DateTime, nullable=False),
)

companies = Table(
    "companies",
    metadata,
    _pk(),
    _tenant(),
    Column("name", String(200), nullable=False),
    Column("domain", String(200)),
    Column("phone", String(40)),
    Column("address", String(200)),
    Column("city", String(100)),
    Column("country", String(2)),
    Column("created_at", DateTime, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    _pk(),
    _tenant(),
    Column("company_id", ID, ForeignKey("companies.id", ondelete="SET NULL")),
    _actor("owner_user_id"),
    Column("email", String(EMAIL_LEN)),
    Column("first_name", String(100)),
    Column("last_name", String(100), nullable=False),
    Column("job_title", String(100)),
    Column("phone", String(40)),
    Column("mobile", String(40)),
    Column("address", String(200)),
    Column("postal_code", String(16)),
    Column("city", String(100)),
    Column("country", String(2)),
    Column("date_of_birth", Date),
    Column("lead_source", String(32)),
    Column("created_at", DateTime, nullable=False),
    # Client Data: a Client sets these on its own customers; iNextCRM only on its instruction.
    *_preferences(),
)

deals = Table(
    "deals",
    metadata,
    _pk(),
    _tenant(),
    Column("contact_id", ID, ForeignKey("contacts.id")),
    Column("company_id", ID, ForeignKey("companies.id", ondelete="SET NULL")),
    _actor("owner_user_id"),
    Column("title", String(200), nullable=False),
    Column("amount", Numeric(12, 2)),
    Column("currency", String(3), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

activities = Table(
    "activities",
    metadata,
    _pk(),
    _tenant(),
    Column("contact_id", ID, ForeignKey("contacts.id")),
    _actor("user_id"),
    Column("kind", String(16), nullable=False),
    Column("subject", String(200)),
    Column("details", Text),
    Column("occurred_at", DateTime, nullable=False),
)

notes = Table(
    "notes",
    metadata,
    _pk(),
    _tenant(),
    Column("contact_id", ID, ForeignKey("contacts.id")),
    Column("company_id", ID, ForeignKey("companies.id", ondelete="SET NULL")),
    _actor("author_user_id"),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

emails = Table(
    "emails",
    metadata,
    _pk(),
    _tenant(),
    Column("contact_id", ID, ForeignKey("contacts.id")),
    _actor("user_id"),
    Column("direction", String(8), nullable=False),
    Column("from_addr", String(EMAIL_LEN)),
    Column("to_addr", String(EMAIL_LEN)),
    Column("cc", Text),
    Column("subject", String(300)),
    Column("body", Text),
    Column("message_id", String(200)),
    Column("sent_at", DateTime, nullable=False),
)

attachments = Table(
    "attachments",
    metadata,
    _pk(),
    _tenant(),
    Column("email_id", ID, ForeignKey("emails.id"), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary),
)

meetings = Table(
    "meetings",
    metadata,
    _pk(),
    _tenant(),
    _actor("organizer_user_id"),
    Column("title", String(200), nullable=False),
    Column("starts_at", DateTime, nullable=False),
    Column("duration_min", Integer, nullable=False),
    Column("provider", String(16)),
    Column("external_id", String(100)),
)

meeting_attendees = Table(
    "meeting_attendees",
    metadata,
    _pk(),
    _tenant(),
    Column("meeting_id", ID, ForeignKey("meetings.id"), nullable=False),
    Column("contact_id", ID, ForeignKey("contacts.id")),
    Column("email", String(EMAIL_LEN), nullable=False),
    Column("name", String(200)),
    Column("response", String(16)),
)

invoices = Table(
    "invoices",
    metadata,
    _pk(),
    _tenant(),
    Column("user_id", ID, ForeignKey("users.id")),
    Column("number", String(32), nullable=False, unique=True),
    Column("issued_at", Date, nullable=False),
    Column("amount", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("billing_name", String(200), nullable=False),
    Column("billing_address", String(300)),
    Column("billing_email", String(EMAIL_LEN)),
    Column("billing_phone", String(40)),
)

payment_methods = Table(
    "payment_methods",
    metadata,
    _pk(),
    _tenant(),
    Column("user_id", ID, ForeignKey("users.id")),
    Column("brand", String(16), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
    Column("holder_name", String(200)),
    Column("created_at", DateTime, nullable=False),
)

marketing_subscriptions = Table(
    "marketing_subscriptions",
    metadata,
    _pk(),
    Column("email", String(EMAIL_LEN), nullable=False),
    Column("list_name", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", String(32)),
    Column("consent_at", DateTime, nullable=False),
    Column("unsubscribed_at", DateTime),
    Column("ip_address", String(45)),
    Column("processing_restricted", Boolean),
)

support_tickets = Table(
    "support_tickets",
    metadata,
    _pk(),
    _tenant(),
    Column("user_id", ID, ForeignKey("users.id")),
    Column("requester_email", String(EMAIL_LEN)),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

visitor_analytics = Table(
    "visitor_analytics",
    metadata,
    _pk(),
    Column("cookie_id", String(64), nullable=False),
    Column("user_id", ID, ForeignKey("users.id")),
    Column("ip_address", String(45)),
    Column("page", String(200), nullable=False),
    Column("referrer", String(200)),
    Column("user_agent", String(300)),
    Column("visited_at", DateTime, nullable=False),
)

integrations = Table(
    "integrations",
    metadata,
    _pk(),
    _tenant(),
    Column("kind", String(16), nullable=False),
    Column("account", String(EMAIL_LEN), nullable=False),
    # The name of a secret in the vault, never the secret itself.
    Column("credential_ref", String(200), nullable=False),
    _actor("connected_by_user_id"),
    Column("created_at", DateTime, nullable=False),
)

# Identity columns the data map matches, through exactly the expression discovery compares with.
IDENTITY_COLUMNS: tuple[tuple[Table, str, str], ...] = (
    (clients, "billing_email", "email"),
    (users, "email", "email"),
    (users, "phone", "phone"),
    (contacts, "email", "email"),
    (contacts, "phone", "phone"),
    (contacts, "mobile", "phone"),
    (meeting_attendees, "email", "email"),
    (invoices, "billing_email", "email"),
    (invoices, "billing_phone", "phone"),
    (invoices, "user_id", "user_id"),
    (payment_methods, "user_id", "user_id"),
    (marketing_subscriptions, "email", "email"),
    (support_tickets, "requester_email", "email"),
    (support_tickets, "user_id", "user_id"),
    (visitor_analytics, "cookie_id", "cookie_id"),
    (visitor_analytics, "user_id", "user_id"),
)
# Columns references are followed along (and the one attachments hang from).
REFERENCE_COLUMNS: tuple[tuple[Table, str], ...] = (
    (deals, "contact_id"),
    (activities, "contact_id"),
    (notes, "contact_id"),
    (emails, "contact_id"),
    (meeting_attendees, "contact_id"),
    (meeting_attendees, "meeting_id"),
    (attachments, "email_id"),
)

for _table, _col, _kind in IDENTITY_COLUMNS:
    # Phones' expression changed (extensions cut): a new name, so existing CRMs get the new index.
    _suffix = {"email": "_norm", "phone": "_digits"}.get(_kind, "")
    Index(f"ix_{_table.name}_{_col}{_suffix}", match_expression(_kind, _table.c[_col]))
for _table, _col in REFERENCE_COLUMNS:
    Index(f"ix_{_table.name}_{_col}", _table.c[_col])
for _table in metadata.tables.values():
    if "client_id" in _table.c:
        Index(f"ix_{_table.name}_client_id", _table.c.client_id)
