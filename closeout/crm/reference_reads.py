"""The reference CRM's read side: the customer source the pages, the API and the case read
(profiles, contacts, account histories, search and names), each in as few round trips as it
can. `closeout/crm/reference.py` adds the case's changes to it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Table, bindparam, func, or_, true
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from closeout.crm.models import CHILD_TABLES, CrmContact, CrmCustomer
from closeout.crm.port import (
    AccountHistory,
    ComplaintLine,
    CustomerDetails,
    CustomerNotFound,
    CustomerProfile,
    InvoiceLine,
    MailContact,
)
from closeout.db import Database, table_of
from closeout.suppression.ledger import SuppressionLedger

# Statements are built once: building one costs more than running it.
CUSTOMERS = table_of(CrmCustomer)
CHILDREN = {name: table_of(model) for name, model in CHILD_TABLES.items()}
_CUSTOMERS, _CHILDREN = CUSTOMERS, CHILDREN
_PROFILE = sa_select(
    _CUSTOMERS.c.id,
    _CUSTOMERS.c.owner,
    _CUSTOMERS.c.value_tier,
    _CUSTOMERS.c.locale,
    _CUSTOMERS.c.status,
    _CUSTOMERS.c.country,
).where(_CUSTOMERS.c.id == bindparam("key"))
_NAMES = sa_select(_CUSTOMERS.c.id, _CUSTOMERS.c.name).where(
    _CUSTOMERS.c.id.in_(bindparam("ids", expanding=True))
)
_CONTACTS = table_of(CrmContact)


def _of_customer(table: Table, *columns: Any) -> Any:
    """A scalar subquery over one customer's rows of a child table."""
    return sa_select(*columns).where(table.c.customer_id == _CUSTOMERS.c.id).scalar_subquery()


def _recent(table: Table, at: str) -> Any:
    return (
        sa_select(table)
        .where(table.c.customer_id == bindparam("key"))
        .order_by(table.c[at].desc())
        .limit(bindparam("n"))
    )


_ORDERS, _INVOICES = _CHILDREN["orders"], _CHILDREN["invoices"]
_INTERACTIONS, _TICKETS = _CHILDREN["interactions"], _CHILDREN["support_tickets"]
# The task and case pages' account history: the customer and every aggregate in one statement.
_HISTORY = sa_select(
    _CUSTOMERS.c.name,
    _CUSTOMERS.c.owner,
    _CUSTOMERS.c.value_tier,
    _CUSTOMERS.c.status,
    _CUSTOMERS.c.created_at,
    _of_customer(_ORDERS, func.count()).label("orders"),
    _of_customer(_ORDERS, func.coalesce(func.sum(_ORDERS.c.amount_cents), 0)).label("order_value"),
    _of_customer(_ORDERS, func.max(_ORDERS.c.ordered_at)).label("last_order"),
    sa_select(func.coalesce(func.sum(_INVOICES.c.amount_cents), 0))
    .where(_INVOICES.c.customer_id == _CUSTOMERS.c.id, _INVOICES.c.paid_at.is_(None))
    .scalar_subquery()
    .label("unpaid"),
    _of_customer(_INTERACTIONS, func.count()).label("interactions"),
    _of_customer(_INTERACTIONS, func.max(_INTERACTIONS.c.at)).label("last_interaction"),
    _of_customer(_TICKETS, func.coalesce(func.sum(_TICKETS.c.hours), 0.0)).label("hours"),
).where(_CUSTOMERS.c.id == bindparam("key"))
_RECENT_INVOICES = _recent(_INVOICES, "issued_at")
_RECENT_COMPLAINTS = _recent(_CHILDREN["complaints"], "at")
# The customer's own address, or the contact marked primary (else the first) when there is one.
_FIRST_CONTACT = (
    sa_select(_CONTACTS.c.email, _CONTACTS.c.name)
    .where(_CONTACTS.c.customer_id == bindparam("key"))
    .order_by(_CONTACTS.c.is_primary.desc(), _CONTACTS.c.id)
    .limit(1)
    .subquery()
)
_CONTACT = (
    sa_select(
        _CUSTOMERS.c.email,
        _CUSTOMERS.c.name,
        _CUSTOMERS.c.locale,
        _FIRST_CONTACT.c.email.label("contact_email"),
        _FIRST_CONTACT.c.name.label("contact_name"),
    )
    .select_from(_CUSTOMERS.outerjoin(_FIRST_CONTACT, true()))
    .where(_CUSTOMERS.c.id == bindparam("key"))
)


def _details(c: CrmCustomer) -> CustomerDetails:
    return CustomerDetails(
        c.id, c.name, c.email, c.phone, c.owner, c.value_tier, c.locale, c.status,
        c.created_at, c.closed_at,
    )  # fmt: skip


class ReferenceReads:
    """Reads of the reference CRM, refusing customers the suppression ledger names."""

    def __init__(self, db: Database, ledger: SuppressionLedger | None = None) -> None:
        self.db = db
        self.ledger = ledger

    def _suppressed(self, customer_id: str) -> bool:
        """Deleted for good: rows that came back with an older database copy are refused."""
        return self.ledger is not None and self.ledger.is_suppressed(customer_id)

    def _customer(self, session: Session, customer_id: str) -> CrmCustomer:
        customer = session.get(CrmCustomer, customer_id)
        if customer is None or self._suppressed(customer_id):
            raise CustomerNotFound(customer_id)
        return customer

    def customer_ids(self, batch: int = 10_000) -> Iterator[str]:
        last = ""
        while True:
            with self.db.session() as session:
                ids = session.exec(
                    select(CrmCustomer.id)
                    .where(col(CrmCustomer.id) > last)
                    .order_by(col(CrmCustomer.id))
                    .limit(batch)
                ).all()
            yield from ids
            if len(ids) < batch:
                return
            last = ids[-1]

    def search(
        self, q: str | None, status: str | None, limit: int, offset: int, owner: str | None = None
    ) -> tuple[list[CustomerDetails], int]:
        """Customers whose name, e-mail or id contains `q` (of one owner, if given), by id;
        and how many match."""
        query = select(CrmCustomer)
        if owner is not None:
            query = query.where(CrmCustomer.owner == owner)
        if q:
            like = f"%{q.lower()}%"
            query = query.where(
                or_(
                    func.lower(CrmCustomer.name).like(like),
                    func.lower(CrmCustomer.email).like(like),
                    func.lower(CrmCustomer.id).like(like),
                )
            )
        if status:
            query = query.where(CrmCustomer.status == status)
        with self.db.session() as session:
            total = session.exec(select(func.count()).select_from(query.subquery())).one()
            rows = session.exec(
                query.order_by(col(CrmCustomer.id)).limit(limit).offset(offset)
            ).all()
            # Rows of a customer deleted for good that came back with an older database copy
            # (until `closeout suppression check --purge` takes them) are not shown.
            return [_details(r) for r in rows if not self._suppressed(r.id)], int(total)

    def customer(self, customer_id: str) -> CustomerDetails | None:
        if self._suppressed(customer_id):
            return None
        with self.db.session() as session:
            found = session.get(CrmCustomer, customer_id)
            return None if found is None else _details(found)

    def names(self, customer_ids: Iterable[str]) -> dict[str, str]:
        """Customers' names by id, in one query (for lists); a customer not found is left out."""
        wanted = set(customer_ids)
        if self.ledger is not None:
            suppressed = self.ledger.refs()  # the ledger read once for the whole list
            wanted = {c for c in wanted if self.ledger.refs_of(c).isdisjoint(suppressed)}
        if not wanted:
            return {}
        with self.db.transaction() as connection:
            rows = connection.execute(_NAMES, {"ids": wanted})
            return {row.id: row.name for row in rows}

    def get_profile(self, customer_id: str) -> CustomerProfile | None:
        if self._suppressed(customer_id):
            return None
        with self.db.transaction() as connection:
            c = connection.execute(_PROFILE, {"key": customer_id}).first()
        return None if c is None else CustomerProfile(*c)

    def account_history(self, customer_id: str, recent: int = 5) -> AccountHistory | None:
        """Orders, invoices, complaints and contacts of one customer, aggregated in SQL."""
        if self._suppressed(customer_id):
            return None
        with self.db.transaction() as connection:
            c = connection.execute(_HISTORY, {"key": customer_id}).first()
            if c is None:
                return None
            invoices = connection.execute(_RECENT_INVOICES, {"key": customer_id, "n": recent})
            complaints = connection.execute(_RECENT_COMPLAINTS, {"key": customer_id, "n": recent})
            return AccountHistory(
                name=c.name,
                owner=c.owner,
                value_tier=c.value_tier,
                status=c.status,
                customer_since=c.created_at,
                orders=int(c.orders),
                order_value_cents=int(c.order_value),
                last_order_at=c.last_order,
                unpaid_cents=int(c.unpaid),
                recent_invoices=[
                    InvoiceLine(i.number, i.issued_at, i.due_at, i.amount_cents, i.paid_at)
                    for i in invoices
                ],
                complaints=[
                    ComplaintLine(x.at, x.subject, x.is_dispute, x.resolved_at) for x in complaints
                ],
                interactions=int(c.interactions),
                last_interaction_at=c.last_interaction,
                support_hours=float(c.hours),
            )

    def primary_contact(self, customer_id: str) -> MailContact | None:
        if self._suppressed(customer_id):
            return None  # a deleted customer is never written to again
        with self.db.transaction() as connection:
            found = connection.execute(_CONTACT, {"key": customer_id}).first()
        if found is None:
            return None
        if found.contact_email is not None:
            return MailContact(found.contact_email, found.contact_name, found.locale)
        return MailContact(found.email, found.name, found.locale)

    def customers_with_email(self, email: str) -> list[str]:
        wanted = email.strip().lower()
        with self.db.transaction() as connection:
            found = connection.execute(
                sa_select(_CUSTOMERS.c.id)
                .where(func.lower(_CUSTOMERS.c.email) == wanted)
                .union(
                    sa_select(_CONTACTS.c.customer_id).where(
                        func.lower(_CONTACTS.c.email) == wanted, _CONTACTS.c.is_primary
                    )
                )
            ).scalars()
            ids = sorted(set(found))
        return [c for c in ids if not self._suppressed(c)]
