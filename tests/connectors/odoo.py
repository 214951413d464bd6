"""Tables of an Odoo database, written from Odoo 17.0's model definitions (res.partner,
crm.lead, mail.message, sale.order, account.move; the ORM names a model's table after it, dots
as underscores): the columns a case reads or changes, with their Odoo types, plus a few it
must leave alone. A schema Closeout did not design, for the SQL mapping adapter's contract."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    create_engine,
    insert,
    select,
)

ODOO = MetaData()


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=True)


RES_USERS = Table(
    "res_users",
    ODOO,
    _id(),
    Column("login", String, nullable=False, unique=True),
    Column("active", Boolean, default=True),
)
RES_PARTNER = Table(
    "res_partner",
    ODOO,
    _id(),
    Column("name", String),
    Column("complete_name", String, index=True),  # stored, computed from the name
    Column("ref", String, index=True),
    Column("parent_id", Integer, ForeignKey("res_partner.id"), index=True),
    Column("email", String),
    Column("email_normalized", String, index=True),  # stored, computed from the e-mail
    Column("phone", String),
    Column("mobile", String),
    Column("street", String),
    Column("street2", String),
    Column("city", String),
    Column("zip", String),
    Column("vat", String),
    Column("website", String),
    Column("comment", Text),
    Column("lang", String),
    Column("active", Boolean, default=True),
    Column("is_company", Boolean, default=False),
    Column("customer_rank", Integer, default=0),
    Column("user_id", Integer, ForeignKey("res_users.id")),  # the salesperson
    Column("message_bounce", Integer, default=0),  # mail's bounce counter
    Column("x_closeout_status", String),  # a custom field a company adds for Closeout
    Column("create_date", DateTime),
)
CRM_LEAD = Table(
    "crm_lead",
    ODOO,
    _id(),
    Column("name", String, nullable=False),
    Column("partner_id", Integer, ForeignKey("res_partner.id"), index=True),
    Column("type", String, nullable=False),
    Column("email_from", String),
    Column("contact_name", String),
    Column("description", Text),
    Column("expected_revenue", Numeric(16, 2)),
    Column("create_date", DateTime),
)
MAIL_MESSAGE = Table(
    "mail_message",
    ODOO,
    _id(),
    Column("model", String(128)),
    Column("res_id", Integer, index=True),  # a reference by model and id, no foreign key
    Column("author_id", Integer, ForeignKey("res_partner.id")),
    Column("subject", String),
    Column("body", Text),
    Column("message_type", String, nullable=False),
    Column("email_from", String),
    Column("date", DateTime),
)
SALE_ORDER = Table(
    "sale_order",
    ODOO,
    _id(),
    Column("name", String, nullable=False),
    Column("partner_id", Integer, ForeignKey("res_partner.id"), nullable=False, index=True),
    Column("state", String),
    Column("date_order", DateTime, nullable=False),
    Column("amount_total", Numeric(16, 2)),
    Column("client_order_ref", String),
    Column("note", Text),
)
ACCOUNT_MOVE = Table(
    "account_move",
    ODOO,
    _id(),
    Column("name", String),
    Column("partner_id", Integer, ForeignKey("res_partner.id"), index=True),
    Column("move_type", String, nullable=False),
    Column("state", String, nullable=False),
    Column("invoice_date", Date),
    Column("invoice_date_due", Date),
    Column("amount_total", Numeric(16, 2)),
    Column("amount_residual", Numeric(16, 2)),
    Column("payment_state", String),
    Column("ref", String),
    Column("narration", Text),
)

MAPPING = Path(__file__).resolve().parents[2] / "examples" / "connectors" / "odoo.toml"


@contextmanager
def odoo_database(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Iterator[str]:
    """An empty Odoo-shaped database of its own, on SQLite or PostgreSQL ("sqlite",
    "postgresql"); its URL."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/odoo.db"
        create(url)
        yield url
        return
    server = str(request.getfixturevalue("postgres_server"))
    name = f"odoo_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{server}/{name}"
        create(url)
        yield url
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create(url: str) -> None:
    engine = create_engine(url)
    ODOO.create_all(engine)
    engine.dispose()


SALESPERSON = "li.na@example.com"


def add_odoo_customer(
    url: str, customer_id: str, email: str = "billing@acme.example", salesperson: str = SALESPERSON
) -> dict[str, int]:
    """A company customer as Odoo keeps one, with a person, a lead, chatter, an order and two
    invoices (one paid); how many rows of each table are theirs."""
    engine = create_engine(url)
    at = datetime(2024, 3, 1, 9, 30, tzinfo=UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        user = conn.execute(select(RES_USERS.c.id).where(RES_USERS.c.login == salesperson))
        user_id = (
            user.scalar()
            or conn.execute(
                insert(RES_USERS).values(login=salesperson, active=True).returning(RES_USERS.c.id)
            ).scalar_one()
        )
        partner = conn.execute(
            insert(RES_PARTNER).values(
                name=f"Acme {customer_id}", complete_name=f"Acme {customer_id}", ref=customer_id,
                email=email, email_normalized=email.lower(), user_id=user_id, message_bounce=0,
                phone="+33 1 23 45 67 89", street="1 rue de la Paix", city="Paris",
                zip="75002", vat="FR40303265045", comment="<p>Prefers calls</p>",
                lang="fr_FR", active=True, is_company=True, customer_rank=1, create_date=at,
            )
        ).inserted_primary_key[0]  # fmt: skip
        conn.execute(
            insert(RES_PARTNER).values(
                name="Camille Martin", parent_id=partner, email="camille@acme.example",
                active=True, create_date=at,
            )
        )  # fmt: skip
        conn.execute(
            insert(CRM_LEAD).values(
                name="Renewal 2025", partner_id=partner, type="opportunity",
                email_from="camille@acme.example", contact_name="Camille Martin",
                description="Wants a discount", expected_revenue=Decimal("12000.00"),
                create_date=at,
            )
        )  # fmt: skip
        messages: list[dict[str, Any]] = [
            {"model": "res.partner", "res_id": partner, "subject": "Call",
             "message_type": "comment", "body": "<p>Camille called about the invoice</p>",
             "date": at},
            {"model": "res.partner", "res_id": partner, "subject": None, "message_type": "email",
             "body": "<p>Re: renewal</p>", "email_from": "camille@acme.example", "date": at},
            # Another model's record with the same id: not the customer's.
            {"model": "crm.lead", "res_id": partner, "subject": "Lead note",
             "message_type": "comment", "body": "<p>unrelated</p>", "date": at},
        ]  # fmt: skip
        conn.execute(insert(MAIL_MESSAGE), messages)
        conn.execute(
            insert(SALE_ORDER).values(
                name="S00042", partner_id=partner, state="sale", date_order=at,
                amount_total=Decimal("1499.90"), client_order_ref="PO-7781",
                note="<p>Deliver to Camille</p>",
            )
        )  # fmt: skip
        conn.execute(
            insert(ACCOUNT_MOVE),
            [
                {"name": f"INV/2024/{n:05d}", "partner_id": partner, "move_type": "out_invoice",
                 "state": "posted", "invoice_date": date(2024, 3, n),
                 "invoice_date_due": date(2024, 4, n), "ref": "S00042",
                 "amount_total": Decimal("749.95"), "narration": "Thank you",
                 "amount_residual": Decimal(residual), "payment_state": state}
                for n, residual, state in ((1, "0", "paid"), (2, "749.95", "not_paid"))
            ],
        )  # fmt: skip
    engine.dispose()
    return {"res_partner": 1, "crm_lead": 1, "mail_message": 2, "sale_order": 1, "account_move": 2}
