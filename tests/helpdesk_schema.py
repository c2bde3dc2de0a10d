"""A third schema, a help desk in two regions, built to mislead a matcher that is not sound.

Mapped only through ``tests/data/helpdesk.datamap.yaml``. The planted cast:

* **Jörg Müller** (the subject) — in ``de`` as ``JÖRG.MÜLLER@EXAMPLE.DE`` (Unicode capitals) with
  the German national number ``0212 2987664``; in ``na`` under another address with the same
  number written ``+49 212 2987664``, found only through the phone; tickets under two spellings.
* **Pat Doe** (bystander) — in ``na`` with ``(212) 298-7664``: the same ten digits, but a New York
  number, a different person.
* **J. M. News** — ``jörg.müller+news@example.de``: a plus-tagged address is another mailbox.
* **Xaver** — ``xjörg.müller@example.de``: contains the subject's address as a substring.
* **Anna Schmidt** — shares ticket ``T-1`` with Jörg: the tickets' key is ``(ticket_id, email)``.

Invoices are kept ten years (legal obligation) under customers that erasure deletes: the foreign
key is ``ON DELETE SET NULL``, so a kept invoice never points at a deleted customer.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.engine import Engine

metadata = MetaData()
accounts = Table(
    "accounts",
    metadata,
    Column("account_id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
)
customers = Table(
    "customers",
    metadata,
    Column("cust_id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.account_id"), nullable=False),
    Column("email", String(120)),
    Column("phone", String(40)),
    Column("full_name", String(100), nullable=False),
)
tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", String(12), nullable=False),
    Column("email", String(120), nullable=False),
    Column("subject", String(200)),
    PrimaryKeyConstraint("ticket_id", "email"),
)
orders = Table(
    "orders",
    metadata,
    Column("order_id", Integer, primary_key=True),
    Column("cust_id", Integer, ForeignKey("customers.cust_id")),
    Column("placed", Date, nullable=False),
)
order_items = Table(
    "order_items",
    metadata,
    Column("order_id", Integer, nullable=False),
    Column("item_no", Integer, nullable=False),
    Column("product", String(100), nullable=False),
    PrimaryKeyConstraint("order_id", "item_no"),
    ForeignKeyConstraint(["order_id"], ["orders.order_id"]),
)
invoices = Table(
    "invoices",
    metadata,
    Column("invoice_no", String(12), primary_key=True),
    Column("cust_id", Integer, ForeignKey("customers.cust_id", ondelete="SET NULL")),
    Column("billed_to", String(120)),
    Column("amount", Numeric(10, 2), nullable=False),
    Column("issued_on", Date, nullable=False),
)
notes = Table(
    "notes",
    metadata,
    Column("note_id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("body", Text, nullable=False),
)

SUBJECT_EMAIL = "jörg.müller@example.de"
SUBJECT_PHONE_E164 = "+492122987664"

_DAY = dt.date(2026, 3, 2)
ROWS: dict[str, dict[str, list[dict[str, Any]]]] = {
    "de": {
        "accounts": [{"account_id": 1, "name": "Kunde GmbH"}],
        "customers": [
            {"cust_id": 10, "account_id": 1, "email": "JÖRG.MÜLLER@EXAMPLE.DE",
             "phone": "0212 2987664", "full_name": "Jörg Müller"},
            {"cust_id": 11, "account_id": 1, "email": "jörg.müller+news@example.de",
             "phone": "0211 5550100", "full_name": "J. M. News"},
            {"cust_id": 12, "account_id": 1, "email": "xjörg.müller@example.de",
             "phone": "0211 5550101", "full_name": "Xaver Jörgensen"},
        ],
        "tickets": [
            {"ticket_id": "T-1", "email": "jörg.müller@example.de", "subject": "Lieferung"},
            {"ticket_id": "T-1", "email": "anna.schmidt@example.de", "subject": "Lieferung"},
            {"ticket_id": "T-2", "email": "Jörg.Müller@Example.DE", "subject": "Rechnung"},
        ],
        "orders": [
            {"order_id": 100, "cust_id": 10, "placed": _DAY},
            {"order_id": 101, "cust_id": 11, "placed": _DAY},
        ],
        "order_items": [
            {"order_id": 100, "item_no": 1, "product": "Kaffeemühle"},
            {"order_id": 100, "item_no": 2, "product": "Filter"},
            {"order_id": 100, "item_no": 3, "product": "Bohnen"},
            {"order_id": 101, "item_no": 1, "product": "Tassen"},
        ],
        "invoices": [
            {"invoice_no": "INV-1", "cust_id": 10, "billed_to": "jörg.müller@example.de",
             "amount": Decimal("49.90"), "issued_on": _DAY},
            {"invoice_no": "INV-2", "cust_id": 11, "billed_to": "jörg.müller+news@example.de",
             "amount": Decimal("12.00"), "issued_on": _DAY},
        ],
        "notes": [
            {"note_id": 1, "account_id": 1,
             "body": "Rückruf an Jörg Müller unter 0212 2987664 erbeten."},
            {"note_id": 2, "account_id": 1,
             "body": "Newsletter an jörg.müller+news@example.de geschickt."},
            {"note_id": 3, "account_id": 1, "body": "Kontakt: xjörg.müller@example.de"},
        ],
    },
    "na": {
        "accounts": [{"account_id": 2, "name": "Acme Inc"}],
        "customers": [
            {"cust_id": 20, "account_id": 2, "email": "j.mueller@privat.example",
             "phone": "+49 212 2987664", "full_name": "Jorg Mueller"},
            {"cust_id": 21, "account_id": 2, "email": "pat.doe@example.com",
             "phone": "(212) 298-7664", "full_name": "Pat Doe"},
        ],
        "tickets": [
            {"ticket_id": "T-9", "email": "pat.doe@example.com", "subject": "Billing"},
            {"ticket_id": "T-9", "email": "J.Mueller@Privat.example", "subject": "Billing"},
        ],
        "orders": [],
        "order_items": [],
        "invoices": [
            {"invoice_no": "INV-9", "cust_id": 20, "billed_to": "j.mueller@privat.example",
             "amount": Decimal("99.00"), "issued_on": _DAY},
            {"invoice_no": "INV-8", "cust_id": 21, "billed_to": "pat.doe@example.com",
             "amount": Decimal("5.00"), "issued_on": _DAY},
        ],
        "notes": [
            {"note_id": 4, "account_id": 2, "body": "Pat asked us to call (212) 298-7664."},
            {"note_id": 5, "account_id": 2, "body": "Spoke to j.mueller@privat.example today."},
        ],
    },
}  # fmt: skip

# What discovery must attribute to Jörg, per region and table (row keys as RowRef.pk spells them).
SUBJECT_ROWS: dict[str, dict[str, list[str]]] = {
    "de": {
        "customers": ["10"],
        "invoices": ["INV-1"],
        "order_items": ['["100","1"]', '["100","2"]', '["100","3"]'],
        "orders": ["100"],
        "tickets": ['["T-1","jörg.müller@example.de"]', '["T-2","Jörg.Müller@Example.DE"]'],
    },
    "na": {
        "customers": ["20"],
        "invoices": ["INV-9"],
        "tickets": ['["T-9","J.Mueller@Privat.example"]'],
    },
}
SUBJECT_MENTIONS: dict[str, list[tuple[str, str]]] = {
    "de": [("notes", "1")],
    "na": [("notes", "5")],
}


def build_helpdesk(engine: Engine, region: str) -> None:
    metadata.create_all(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            rows = ROWS[region][table.name]
            if rows:
                conn.execute(table.insert(), rows)


def snapshot(engine: Engine) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
    """Every row of every table by its primary key, all columns: what 'untouched' means."""
    out: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            key = [c for c in table.primary_key.columns]
            rows = conn.execute(select(table).order_by(*key)).mappings()
            out[table.name] = {tuple(r[c.name] for c in key): tuple(r.values()) for r in rows}
    return out
