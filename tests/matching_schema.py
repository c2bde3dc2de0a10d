"""The people table that identity matching is measured on: the test (``test_identity_matching``)
and the benchmark (``bench.matching``) plant in it the same countries and phone spellings.

A row holds an e-mail and a phone, the phone read in the row's country; both are looked up
through the data map's match expressions, on their indexes.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from sqlalchemy import Column, Index, Integer, MetaData, String, Table

from connectors.crm.match_sql import match_expression

# Twenty-four countries on five continents, with and without trunk prefixes (0, 1, none).
COUNTRIES = (
    "US", "CA", "GB", "DE", "FR", "NL", "BE", "ES", "IT", "AU", "SG", "JP",
    "IN", "BR", "CH", "AT", "SE", "NO", "DK", "IE", "NZ", "PL", "PT", "ZA",
)  # fmt: skip
E164 = phonenumbers.PhoneNumberFormat.E164
INTERNATIONAL = phonenumbers.PhoneNumberFormat.INTERNATIONAL
NATIONAL = phonenumbers.PhoneNumberFormat.NATIONAL
RFC3966 = phonenumbers.PhoneNumberFormat.RFC3966
# Nine common ways to write one number, the national ones meaning it only in its own country.
SPELLINGS = (
    lambda n: phonenumbers.format_number(n, E164),
    lambda n: phonenumbers.format_number(n, INTERNATIONAL),
    lambda n: phonenumbers.format_number(n, NATIONAL),
    lambda n: "00" + phonenumbers.format_number(n, INTERNATIONAL)[1:],
    lambda n: phonenumbers.format_number(n, RFC3966),
    lambda n: phonenumbers.format_number(n, NATIONAL) + " ext. 42",
    lambda n: phonenumbers.format_number(n, INTERNATIONAL) + " x7",
    lambda n: phonenumbers.format_number(n, NATIONAL).replace(" ", "").replace("-", ""),
    lambda n: phonenumbers.format_number(n, INTERNATIONAL).replace(" ", "."),
)

MAP: dict[str, Any] = {
    "name": "people",
    "controller": {"name": "Test Org", "contact": "privacy@org.test"},
    "tables": {
        "people": {
            "controller": "inextcrm",
            "identities": [
                {"column": "email", "kind": "email"},
                {"column": "phone", "kind": "phone"},
            ],
            "phone_country_column": "country",
            "personal_data": {"email": {"category": "contact"}, "phone": {"category": "contact"}},
            "erasure": {"action": "delete"},
        }
    },
}


def people_table(metadata: MetaData, *extra: Column[Any]) -> Table:
    """The ``people`` table in ``metadata``, with ``extra`` columns after its key."""
    people = Table(
        "people",
        metadata,
        Column("id", Integer, primary_key=True),
        *extra,
        Column("email", String(200)),
        Column("phone", String(60)),
        Column("country", String(2)),
    )
    Index("ix_people_email_match", match_expression("email", people.c.email))
    Index("ix_people_phone_match", match_expression("phone", people.c.phone))
    return people
