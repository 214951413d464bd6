"""Tables of the bundled reference CRM (the customer data Closeout acts on)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, func, text
from sqlmodel import Field, SQLModel

from closeout.domain import DataCategory


class CrmCustomer(SQLModel, table=True):
    __tablename__ = "crm_customer"
    # A customer's own request found by their address (closeout/crm/port.py).
    __table_args__ = (Index("ix_crm_customer_email_lower", func.lower(text("email"))),)

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200, index=True)
    email: str = Field(max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=64)
    owner: str = Field(max_length=200, index=True)
    value_tier: str = Field(default="standard", max_length=32)
    locale: str = Field(default="en", max_length=16)
    # Where the customer is (ISO 3166 alpha-2): which jurisdiction's retention applies.
    country: str | None = Field(default=None, max_length=2)
    # The competitor the customer moved to or talks with, as the account team recorded it:
    # detection then calls the churn competitive.
    competitor: str | None = Field(default=None, max_length=200)
    # The company's tax or registration number (VAT id, 统一社会信用代码): two records with
    # the same one are the same customer.
    tax_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default="active", max_length=32, index=True)
    created_at: datetime
    closed_at: datetime | None = None


class CrmContact(SQLModel, table=True):
    __tablename__ = "crm_contact"
    __table_args__ = (Index("ix_crm_contact_email_lower", func.lower(text("email"))),)

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="crm_customer.id", index=True, max_length=64)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    is_primary: bool = False
    bounce_count: int = 0


class CrmOrder(SQLModel, table=True):
    __tablename__ = "crm_order"
    # The detection rules read the latest order and the revenue of a window per customer.
    __table_args__ = (Index("ix_crm_order_customer_at", "customer_id", "ordered_at"),)

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="crm_customer.id", index=True, max_length=64)
    ordered_at: datetime
    amount_cents: int


class CrmInvoice(SQLModel, table=True):
    __tablename__ = "crm_invoice"
    __table_args__ = (Index("ix_crm_invoice_unpaid_due", "paid_at", "due_at"),)

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="crm_customer.id", index=True, max_length=64)
    number: str = Field(max_length=64)
    issued_at: datetime
    due_at: datetime
    amount_cents: int
    paid_at: datetime | None = None


class CrmInteraction(SQLModel, table=True):
    __tablename__ = "crm_interaction"
    __table_args__ = (Index("ix_crm_interaction_customer_at", "customer_id", "at"),)

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="crm_customer.id", index=True, max_length=64)
    at: datetime
    channel: str = Field(max_length=32)
    summary: str = Field(max_length=2000)


class CrmComplaint(SQLModel, table=True):
    __tablename__ = "crm_complaint"
    __table_args__ = (Index("ix_crm_complaint_at", "at", "customer_id"),)

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="crm_customer.id", index=True, max_length=64)
    at: datetime
    subject: str = Field(max_length=500)
    is_dispute: bool = False
    resolved_at: datetime | None = None


class CrmSupportTicket(SQLModel, table=True):
    __tablename__ = "crm_support_ticket"
    __table_args__ = (Index("ix_crm_support_ticket_opened", "opened_at", "customer_id"),)

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="crm_customer.id", index=True, max_length=64)
    opened_at: datetime
    hours: float = 0.0


class CrmPortalUser(SQLModel, table=True):
    __tablename__ = "crm_portal_user"

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="crm_customer.id", index=True, max_length=64)
    login: str = Field(max_length=320)
    enabled: bool = True
    sessions_active: int = 0


class CrmApiKey(SQLModel, table=True):
    __tablename__ = "crm_api_key"

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="crm_customer.id", index=True, max_length=64)
    key_prefix: str = Field(max_length=16)
    revoked_at: datetime | None = None


class CrmSubscription(SQLModel, table=True):
    """Recurring billing."""

    __tablename__ = "crm_subscription"

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="crm_customer.id", index=True, max_length=64)
    plan: str = Field(max_length=100)
    amount_cents: int
    active: bool = True
    stopped_at: datetime | None = None


# Child tables in export order; the customer row itself is exported first.
CHILD_TABLES: dict[str, type[SQLModel]] = {
    "contacts": CrmContact,
    "orders": CrmOrder,
    "invoices": CrmInvoice,
    "interactions": CrmInteraction,
    "complaints": CrmComplaint,
    "support_tickets": CrmSupportTicket,
    "portal_users": CrmPortalUser,
    "api_keys": CrmApiKey,
    "subscriptions": CrmSubscription,
}

# What the archive stage removes from the live CRM: retention needs none of it, and the
# archive bundle keeps a copy for reactivation until deletion.
MINIMISED_TABLES = ("interactions", "complaints", "support_tickets", "portal_users", "api_keys")

# What reactivation brings back from the archive. API keys are not among them: a key that
# existed before the closure never works again; the returning customer issues new ones.
RESTORED_TABLES = ("interactions", "complaints", "support_tickets", "portal_users")

# Which tables hold each category of data. The customer row itself goes with the last one.
CATEGORY_TABLES: dict[DataCategory, tuple[str, ...]] = {
    DataCategory.MARKETING_DATA: (),
    DataCategory.CONTACT_DATA: ("contacts", "portal_users", "api_keys"),
    DataCategory.INTERACTION_HISTORY: ("interactions", "complaints", "support_tickets"),
    DataCategory.CONTRACTS: ("subscriptions",),
    DataCategory.ACCOUNTING_RECORDS: ("orders", "invoices"),
}
