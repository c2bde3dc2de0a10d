"""A second, different schema (a web shop) for proving the data map drives everything."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Engine

metadata = MetaData()
shops = Table(
    "shops", metadata, Column("shop_id", Integer, primary_key=True), Column("name", String)
)
profile = Table(
    "profile",
    metadata,
    Column("profile_id", Integer, primary_key=True),
    Column("shop_id", Integer, ForeignKey("shops.shop_id")),
    Column("shoe_size", Integer),
)
customer = Table(
    "customer",
    metadata,
    Column("cust_no", String(12), primary_key=True),
    Column("shop_id", Integer, ForeignKey("shops.shop_id")),
    Column("mail", String),
    Column("mobile", String),
    Column("given", String),
    Column("family", String),
    Column("profile_id", Integer, ForeignKey("profile.profile_id")),
)
orders = Table(
    "orders",
    metadata,
    Column("order_id", Integer, primary_key=True),
    Column("shop_id", Integer),
    Column("cust_no", String(12), ForeignKey("customer.cust_no")),
    Column("ship_to", String),
    Column("total", Numeric(10, 2)),
    Column("placed", Date),
)
order_line = Table(
    "order_line",
    metadata,
    Column("line_id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.order_id")),
    Column("sku", String),
    Column("qty", Integer),
)
review = Table(
    "review",
    metadata,
    Column("review_id", Integer, primary_key=True),
    Column("shop_id", Integer),
    Column("cust_no", String(12)),
    Column("body", Text),
)
newsletter = Table("newsletter", metadata, Column("addr", String, primary_key=True))


def build_shop(engine: Engine) -> None:
    """Two shops; Eva (C-1) has orders, a profile, a review; Bob (C-2) mentions Eva in a review."""
    import datetime as dt
    from decimal import Decimal

    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            shops.insert(), [{"shop_id": 1, "name": "Shoes"}, {"shop_id": 2, "name": "Hats"}]
        )
        conn.execute(
            profile.insert(),
            [
                {"profile_id": 10, "shop_id": 1, "shoe_size": 38},
                {"profile_id": 11, "shop_id": 1, "shoe_size": 44},
            ],
        )
        conn.execute(
            customer.insert(),
            [
                {
                    "cust_no": "C-1",
                    "shop_id": 1,
                    "mail": "Eva.Smit@Shop-Mail.test",
                    "mobile": "+31 6 1234 5678",
                    "given": "Eva",
                    "family": "Smit",
                    "profile_id": 10,
                },
                {
                    "cust_no": "C-2",
                    "shop_id": 1,
                    "mail": "bob@shop-mail.test",
                    "mobile": "+31 6 8765 4321",
                    "given": "Bob",
                    "family": "Visser",
                    "profile_id": 11,
                },
                # The same person in the other shop, with only her phone: found by the fixpoint.
                {
                    "cust_no": "H-7",
                    "shop_id": 2,
                    "mail": None,
                    "mobile": "06-12345678",
                    "given": "Eva",
                    "family": "Smit",
                    "profile_id": None,
                },
            ],
        )
        conn.execute(
            orders.insert(),
            [
                {
                    "order_id": 100,
                    "shop_id": 1,
                    "cust_no": "C-1",
                    "ship_to": "Kade 1",
                    "total": Decimal("59.90"),
                    "placed": dt.date(2025, 3, 1),
                },
                {
                    "order_id": 101,
                    "shop_id": 1,
                    "cust_no": "C-2",
                    "ship_to": "Gracht 2",
                    "total": Decimal("12.00"),
                    "placed": dt.date(2025, 4, 1),
                },
                {
                    "order_id": 200,
                    "shop_id": 2,
                    "cust_no": "H-7",
                    "ship_to": "Kade 1",
                    "total": Decimal("20.00"),
                    "placed": dt.date(2025, 5, 1),
                },
            ],
        )
        conn.execute(
            order_line.insert(),
            [
                {"line_id": 1, "order_id": 100, "sku": "SHOE-1", "qty": 1},
                {"line_id": 2, "order_id": 100, "sku": "LACE-2", "qty": 2},
                {"line_id": 3, "order_id": 101, "sku": "SHOE-9", "qty": 1},
                {"line_id": 4, "order_id": 200, "sku": "HAT-1", "qty": 1},
            ],
        )
        conn.execute(
            review.insert(),
            [
                {"review_id": 1, "shop_id": 1, "cust_no": "C-1", "body": "Great shoes."},
                {
                    "review_id": 2,
                    "shop_id": 1,
                    "cust_no": "C-2",
                    "body": "Bought these with EVA SMIT, mail her at eva.smit@shop-mail.test",
                },
                {
                    "review_id": 3,
                    "shop_id": 1,
                    "cust_no": "C-2",
                    "body": "Eva from accounting liked them",
                },
            ],
        )
        conn.execute(
            newsletter.insert(),
            [{"addr": "eva.smit@shop-mail.test"}, {"addr": "bob@shop-mail.test"}],
        )
