"""The CRM port: everything Closeout asks of the system that holds customer data."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class CustomerProfile:
    """What the process needs to know of a customer: ids and enums, no personal data."""

    id: str
    owner: str
    value_tier: str
    locale: str
    status: str
    country: str | None = None


@dataclass(frozen=True)
class CustomerDetails:
    """A customer as staff look them up: who they are and how to reach them."""

    id: str
    name: str
    email: str
    phone: str | None
    owner: str
    value_tier: str
    locale: str
    status: str
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class InvoiceLine:
    number: str
    issued_at: datetime
    due_at: datetime
    amount_cents: int
    paid_at: datetime | None
    # Settled, for a source that knows an invoice is paid but not when (None: by paid_at).
    paid: bool | None = None


@dataclass(frozen=True)
class ComplaintLine:
    at: datetime
    subject: str
    is_dispute: bool
    resolved_at: datetime | None


@dataclass(frozen=True)
class AccountHistory:
    """What an account manager weighs before deciding: value, payments, friction."""

    name: str
    owner: str
    value_tier: str
    status: str
    customer_since: datetime
    orders: int
    order_value_cents: int
    last_order_at: datetime | None
    unpaid_cents: int
    recent_invoices: list[InvoiceLine]
    complaints: list[ComplaintLine]
    interactions: int
    last_interaction_at: datetime | None
    support_hours: float


@dataclass(frozen=True)
class MailContact:
    """Where a customer's notices go."""

    email: str
    name: str
    locale: str


@dataclass(frozen=True)
class CustomerExport:
    """Every record of one customer, table by table, as JSON-ready dicts."""

    customer_id: str
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()}


@dataclass(frozen=True)
class AccessGrants:
    """What still lets a customer in: must be all zeros after revocation."""

    enabled_portal_users: int
    active_sessions: int
    active_api_keys: int
    active_subscriptions: int

    @property
    def none(self) -> bool:
        return not (
            self.enabled_portal_users
            or self.active_sessions
            or self.active_api_keys
            or self.active_subscriptions
        )


class CustomerSuppressed(Exception):
    """The customer was deleted for good: the suppression ledger names them."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id!r} was deleted and cannot be restored")
        self.customer_id = customer_id


class CustomerNotFound(Exception):
    """The CRM holds no customer with that id."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"unknown customer {customer_id!r}")
        self.customer_id = customer_id


class CustomerSource(Protocol):
    """Where Closeout reads who a customer is and writes where their closing stands: the
    reference CRM, or a company's own CRM (closeout/connectors/sql_source.py,
    salesforce_source.py). A customer the suppression ledger names is unknown to it.
    Reads answer None (or leave the customer out) for a customer it does not hold; a system
    that cannot answer raises `closeout.connectors.errors.ConnectorError`."""

    def get_profile(self, customer_id: str) -> CustomerProfile | None: ...

    def customer(self, customer_id: str) -> CustomerDetails | None: ...

    def search(
        self, q: str | None, status: str | None, limit: int, offset: int, owner: str | None = None
    ) -> tuple[list[CustomerDetails], int]:
        """Customers whose name, e-mail or id contains `q` (of one owner, if given), by id;
        and how many match."""
        ...

    def names(self, customer_ids: Iterable[str]) -> dict[str, str]:
        """Customers' names by id, in one look-up (for lists); one not found is left out."""
        ...

    def primary_contact(self, customer_id: str) -> MailContact | None: ...

    def customers_with_email(self, email: str) -> list[str]:
        """Customers whose own address, or their primary contact's, is this one (compared
        without regard to case): whoever reads it speaks for the customer. Another contact
        (a clerk, someone who left) does not; none once deleted."""
        ...

    def account_history(self, customer_id: str) -> AccountHistory | None: ...

    def set_status(self, customer_id: str, status: str) -> None: ...

    def record_bounce(self, customer_id: str, email: str) -> None: ...

    def customer_ids(self, batch: int = 10_000) -> Iterator[str]:
        """Every customer id the source holds, suppressed or not (for restore-time checks)."""
        ...


class CrmPort(CustomerSource, Protocol):
    """The reference CRM: the customer source, and a system holding the customers' records
    and logins (closeout/connectors/data.py and access.py put those behind their ports).
    Every method is idempotent."""

    def export_customer(self, customer_id: str) -> CustomerExport: ...

    def revoke_access(self, customer_id: str) -> dict[str, int]: ...

    def access_grants(self, customer_id: str) -> AccessGrants: ...

    def minimise(self, customer_id: str, tables: tuple[str, ...]) -> dict[str, int]: ...

    def restore(self, export: CustomerExport, tables: tuple[str, ...]) -> dict[str, int]: ...

    def regrant_access(self, customer_id: str) -> dict[str, int]: ...

    def delete_customer(self, customer_id: str) -> dict[str, int]: ...

    def remaining_records(self, customer_id: str) -> dict[str, int]: ...
