"""The raw-SQL floor for the demo CRM (``dsr/democrm``): what a DBA would send, by hand, to find
one or many people's rows for a ``user_account`` or a ``client_data`` request.

Read off ``dsr/democrm/tables.py`` and ``inextcrm.datamap.yaml``: one statement per table and
identity kind (values in bound ``IN`` lists, through the same expression indexes discovery uses),
the user id and contact id followed to the tables that point at them, and one ``LIKE`` statement
per free-text table for mentions. Rows are read whole (``SELECT *``): an access request exports
them, so discovery reads them whole too. A phone is searched in every region (a number found in one
region may be the person's in another), as discovery's cross-region fixpoint does; a statement
with nothing to look for is not sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import phonenumbers
from sqlalchemy.engine import Connection, Row

from bench.floor.sql import Found, Values, email_sql, like_terms, lookup, phone_sql, run
from connectors.base import EMAIL, NAME, PHONE, Identity
from connectors.crm.datamap import DataMap
from connectors.crm.match_sql import PREFILTER_MAX_CLAUSES
from connectors.free_text import MentionMatcher
from connectors.identities import harvest_identity

if TYPE_CHECKING:
    from bench.floor.run import Case

E = email_sql


def _country(value: Any, default: str) -> str:
    code = value.strip().upper() if isinstance(value, str) else ""
    return code if code in phonenumbers.SUPPORTED_REGIONS else default


class People:
    """The identities of everyone asked about, by kind, as the statements find them."""

    def __init__(self, people: dict[str, str], folds_unicode: bool) -> None:
        self.email = Values(EMAIL)
        self.phone = Values(PHONE)
        self.ids = Values("id")  # user ids or contact ids
        self.mentionable: dict[str, set[Identity]] = {k: set() for k in people}
        self.folds = folds_unicode
        for key, address in people.items():
            self.add_email({key}, address)

    def add_email(self, keys: set[str], raw: Any) -> None:
        ident = harvest_identity(EMAIL, raw) if raw is not None else None
        if ident is not None:
            self.email.add_identity(keys, ident, folds_unicode=self.folds)
            for key in keys:
                self.mentionable[key].add(ident)

    def add_phone(self, keys: set[str], raw: Any, country: str) -> None:
        ident = harvest_identity(PHONE, raw, country) if raw is not None else None
        if ident is not None:
            self.phone.add_identity(keys, ident)
            for key in keys:
                self.mentionable[key].add(ident)

    def add_name(self, keys: set[str], raw: Any) -> None:
        ident = harvest_identity(NAME, raw) if raw else None
        if ident is not None:
            for key in keys:
                self.mentionable[key].add(ident)


def mentions(
    conn: Connection,
    region: str,
    found: Found,
    people: People,
    table: str,
    columns: tuple[str, ...],
    tenant: str,
    params: dict[str, Any],
    key: str = "id",
) -> None:
    """One statement per free-text table: a LIKE per search term and column, or every text in
    scope where the terms are too many (or too short) to filter on, as discovery decides."""
    idents = {i for ids in people.mentionable.values() for i in ids}
    terms = MentionMatcher(idents).prefilter_terms()
    where = [tenant] if tenant else []
    binds = dict(params)
    if terms is not None and len(terms) * len(columns) <= PREFILTER_MAX_CLAUSES:
        likes = []
        for n, pattern in enumerate(like_terms(set(terms))):
            binds[f"t{n}"] = pattern
            likes += [f"lower({c}) LIKE :t{n} ESCAPE '/'" for c in columns]
        where.append("(" + " OR ".join(likes) + ")")
    sql = f"SELECT {key} AS k, {', '.join(columns)} FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    for row in run(conn, sql, binds):
        found.mention_candidates.add((region, table, str(row.k)))


def user_account(
    conns: dict[str, Connection], countries: dict[str, str], people: dict[str, str], folds: bool
) -> Found:
    """A User's own records: the ``inextcrm`` tables, every tenant."""
    found, p = Found(), People(people, folds)
    dialect = next(iter(conns.values())).dialect.name
    P = lambda c: phone_sql(c, dialect)  # noqa: E731 - a short alias keeps the SQL readable

    def own_user(region: str, row: Row, keys: set[str]) -> None:
        found.own(keys, region, "users", row.id)
        p.ids.add(keys, row.id)
        p.add_email(keys, row.email)
        p.add_phone(keys, row.phone, countries[region])
        p.add_name(keys, row.full_name)

    # Users through their e-mail, then through the phones those rows hold, in every region,
    # until a pass finds no new address or number.
    while True:
        emails, phones = p.email.fresh(), p.phone.fresh()
        if not emails and not phones:
            break
        for region, conn in conns.items():
            by_email = f"SELECT *, {E('email')} AS m FROM users WHERE {E('email')} IN :v"
            for row, keys in lookup(conn, by_email, p.email, emails):
                own_user(region, row, keys)
            by_phone = f"SELECT *, {P('phone')} AS m FROM users WHERE {P('phone')} IN :v"
            check = lambda r, c=countries[region]: (r.phone, c)  # noqa: E731
            for row, keys in lookup(conn, by_phone, p.phone, phones, check=check):
                own_user(region, row, keys)
    emails, phones, uids = p.email.all(), p.phone.all(), p.ids.all()
    cookies = Values("cookie_id")
    for region, conn in conns.items():
        check = lambda r, c=countries[region]: (r.billing_phone, c)  # noqa: E731
        for table, sql, values, wanted, chk in (
            ("clients", f"SELECT *, {E('billing_email')} AS m FROM clients "
             f"WHERE {E('billing_email')} IN :v", p.email, emails, None),
            ("invoices", f"SELECT *, {E('billing_email')} AS m FROM invoices "
             f"WHERE {E('billing_email')} IN :v", p.email, emails, None),
            ("invoices", f"SELECT *, {P('billing_phone')} AS m FROM invoices "
             f"WHERE {P('billing_phone')} IN :v", p.phone, phones, check),
            ("invoices", "SELECT *, user_id AS m FROM invoices WHERE user_id IN :v",
             p.ids, uids, None),
            ("payment_methods", "SELECT *, user_id AS m FROM payment_methods "
             "WHERE user_id IN :v", p.ids, uids, None),
            ("marketing_subscriptions", f"SELECT *, {E('email')} AS m "
             f"FROM marketing_subscriptions WHERE {E('email')} IN :v", p.email, emails, None),
            ("support_tickets", f"SELECT *, {E('requester_email')} AS m FROM support_tickets "
             f"WHERE {E('requester_email')} IN :v", p.email, emails, None),
            ("support_tickets", "SELECT *, user_id AS m FROM support_tickets "
             "WHERE user_id IN :v", p.ids, uids, None),
        ):  # fmt: skip
            for row, keys in lookup(conn, sql, values, wanted, check=chk):
                found.own(keys, region, table, row.id)
        visits = "SELECT *, user_id AS m FROM visitor_analytics WHERE user_id IN :v"
        for row, keys in lookup(conn, visits, p.ids, uids):
            found.own(keys, region, "visitor_analytics", row.id)
            cookies.harvest(keys, row.cookie_id)
    # A browser's anonymous visits, through the cookies of its signed-in ones (any region).
    wanted = cookies.all()
    for region, conn in conns.items():
        by_cookie = "SELECT *, cookie_id AS m FROM visitor_analytics WHERE cookie_id IN :v"
        for row, keys in lookup(conn, by_cookie, cookies, wanted):
            found.own(keys, region, "visitor_analytics", row.id)
        mentions(conn, region, found, p, "support_tickets", ("subject", "body"), "", {})
    return found


_BY_CONTACT = ("deals", "activities", "notes", "emails", "meeting_attendees")
_TEXTS = (
    ("deals", ("title",)),
    ("activities", ("subject", "details")),
    ("notes", ("body",)),
    ("emails", ("subject", "body", "cc")),
    ("meetings", ("title",)),
)


def client_data(
    conns: dict[str, Connection],
    countries: dict[str, str],
    people: dict[str, str],
    folds: bool,
    client_id: str,
) -> Found:
    """A Client's customers: the ``client`` tables, inside that Client's tenant only."""
    found, p = Found(), People(people, folds)
    dialect = next(iter(conns.values())).dialect.name
    P = lambda c: phone_sql(c, dialect)  # noqa: E731
    tenant = {"c": int(client_id)}

    def own_contact(region: str, row: Row, keys: set[str]) -> None:
        found.own(keys, region, "contacts", row.id)
        p.ids.add(keys, row.id)
        p.add_email(keys, row.email)
        country = _country(row.country, countries[region])
        p.add_phone(keys, row.phone, country)
        p.add_phone(keys, row.mobile, country)
        p.add_name(keys, " ".join(x for x in (row.first_name, row.last_name) if x))

    def check(column: str, region: str) -> Any:
        return lambda r: (getattr(r, column), _country(r.country, countries[region]))

    # Contacts through their e-mail, then through either of the numbers those rows hold.
    while True:
        emails, phones = p.email.fresh(), p.phone.fresh()
        if not emails and not phones:
            break
        for region, conn in conns.items():
            by_email = (
                f"SELECT *, {E('email')} AS m FROM contacts "
                f"WHERE {E('email')} IN :v AND client_id = :c"
            )
            for row, keys in lookup(conn, by_email, p.email, emails, tenant):
                own_contact(region, row, keys)
            for column in ("phone", "mobile"):
                by_phone = (
                    f"SELECT *, {P(column)} AS m FROM contacts "
                    f"WHERE {P(column)} IN :v AND client_id = :c"
                )
                chk = check(column, region)
                for row, keys in lookup(conn, by_phone, p.phone, phones, tenant, chk):
                    own_contact(region, row, keys)
    emails, contact_ids = p.email.all(), p.ids.all()
    for region, conn in conns.items():
        guests = (
            f"SELECT *, {E('email')} AS m FROM meeting_attendees "
            f"WHERE {E('email')} IN :v AND client_id = :c"
        )
        for row, keys in lookup(conn, guests, p.email, emails, tenant):
            found.own(keys, region, "meeting_attendees", row.id)
            p.add_name(keys, row.name)
        mail_ids = Values("email_id")
        for table in _BY_CONTACT:
            sql = (
                f"SELECT *, contact_id AS m FROM {table} WHERE contact_id IN :v AND client_id = :c"
            )
            for row, keys in lookup(conn, sql, p.ids, contact_ids, tenant):
                found.own(keys, region, table, row.id)
                if table == "emails":
                    mail_ids.add(keys, row.id)
        files = "SELECT *, email_id AS m FROM attachments WHERE email_id IN :v AND client_id = :c"
        for row, keys in lookup(conn, files, mail_ids, mail_ids.all(), tenant):
            found.own(keys, region, "attachments", row.id)
        for table, columns in _TEXTS:
            mentions(conn, region, found, p, table, columns, "client_id = :c", tenant)
    return found


def for_datamap(dm: DataMap, folds: bool) -> Callable[[dict[str, Connection], Case], Found]:
    """The floor for a case: the regions' reading countries come from the data map."""
    countries = {r: spec.phone_country or "US" for r, spec in dm.regions.items()}

    def fn(conns: dict[str, Connection], case: Case) -> Found:
        if case.scope == "user_account":
            return user_account(conns, countries, case.people, folds)
        assert case.client_id is not None, "a client_data request names its Client"
        return client_data(conns, countries, case.people, folds, case.client_id)

    return fn
