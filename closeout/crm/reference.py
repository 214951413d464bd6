"""The reference CRM on SQLModel: the CRM port's bundled adapter."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, func, or_, true, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from closeout.crm.models import (
    CHILD_TABLES,
    CrmContact,
    CrmCustomer,
    CrmPortalUser,
)
from closeout.crm.port import (
    AccessGrants,
    AccountHistory,
    ComplaintLine,
    CustomerDetails,
    CustomerExport,
    CustomerNotFound,
    CustomerProfile,
    CustomerSuppressed,
    InvoiceLine,
    MailContact,
)
from closeout.db import Database, table_of
from closeout.suppression.ledger import SuppressionLedger


def _now() -> datetime:
    return datetime.now(UTC)


# The case's steps read and change every table of one customer: their statements are built
# once, since building a statement costs more than running it.
_CUSTOMERS = table_of(CrmCustomer)
_CHILDREN = {name: table_of(model) for name, model in CHILD_TABLES.items()}
_CUSTOMER_ROW = sa_select(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("key"))
_CUSTOMER_EXISTS = sa_select(_CUSTOMERS.c.id).where(_CUSTOMERS.c.id == bindparam("key"))
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
_UPDATE_CUSTOMER = update(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("key"))
_CHILD_ROWS = {
    name: sa_select(t).where(t.c.customer_id == bindparam("key")).order_by(t.c.id)
    for name, t in _CHILDREN.items()
}
_DELETE_CHILDREN = {
    name: delete(t).where(t.c.customer_id == bindparam("key")) for name, t in _CHILDREN.items()
}
_DELETE_CUSTOMER = delete(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("key"))


def _count(table: Table, *where: Any) -> Any:
    return sa_select(func.count()).select_from(table).where(*where).scalar_subquery()


# Every table's count of the customer's rows, in one statement.
_REMAINING = sa_select(
    _count(_CUSTOMERS, _CUSTOMERS.c.id == bindparam("key")).label("customer"),
    *(_count(t, t.c.customer_id == bindparam("key")).label(name) for name, t in _CHILDREN.items()),
)
_USERS, _KEYS, _SUBSCRIPTIONS = (
    _CHILDREN["portal_users"],
    _CHILDREN["api_keys"],
    _CHILDREN["subscriptions"],
)
_GRANTS = sa_select(
    _count(_USERS, _USERS.c.customer_id == bindparam("key"), _USERS.c.enabled).label(
        "enabled_portal_users"
    ),
    sa_select(func.coalesce(func.sum(_USERS.c.sessions_active), 0))
    .where(_USERS.c.customer_id == bindparam("key"))
    .scalar_subquery()
    .label("active_sessions"),
    _count(_KEYS, _KEYS.c.customer_id == bindparam("key"), _KEYS.c.revoked_at.is_(None)).label(
        "active_api_keys"
    ),
    _count(
        _SUBSCRIPTIONS,
        _SUBSCRIPTIONS.c.customer_id == bindparam("key"),
        _SUBSCRIPTIONS.c.active,
    ).label("active_subscriptions"),
)
_DISABLE_USERS = (
    update(_USERS)
    .where(_USERS.c.customer_id == bindparam("key"))
    .where(_USERS.c.enabled | (_USERS.c.sessions_active > 0))
    .values(enabled=False, sessions_active=0)
)
_REVOKE_KEYS = (
    update(_KEYS)
    .where(_KEYS.c.customer_id == bindparam("key"))
    .where(_KEYS.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)
_STOP_SUBSCRIPTIONS = (
    update(_SUBSCRIPTIONS)
    .where(_SUBSCRIPTIONS.c.customer_id == bindparam("key"))
    .where(_SUBSCRIPTIONS.c.active)
    .values(active=False, stopped_at=bindparam("now"))
)


def _json_row(row: Any) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in row._mapping.items()
    }


def _row_to_json(row: SQLModel) -> dict[str, Any]:
    data = row.model_dump()
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in data.items()}


def _row_from_json(model: type[SQLModel], data: dict[str, Any]) -> SQLModel:
    return model.model_validate(data)


def _details(c: CrmCustomer) -> CustomerDetails:
    return CustomerDetails(
        c.id, c.name, c.email, c.phone, c.owner, c.value_tier, c.locale, c.status,
        c.created_at, c.closed_at,
    )  # fmt: skip


class ReferenceCrm:
    """The bundled CRM, in the same database as the read model (tables `crm_*`)."""

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
            return [_details(r) for r in rows], int(total)

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

    def _known(self, connection: Connection, customer_id: str) -> None:
        found = connection.execute(_CUSTOMER_EXISTS, {"key": customer_id}).first()
        if found is None or self._suppressed(customer_id):
            raise CustomerNotFound(customer_id)

    def export_customer(self, customer_id: str) -> CustomerExport:
        key = {"key": customer_id}
        with self.db.transaction() as connection:
            customer = connection.execute(_CUSTOMER_ROW, key).first()
            if customer is None or self._suppressed(customer_id):
                raise CustomerNotFound(customer_id)
            tables: dict[str, list[dict[str, Any]]] = {"customer": [_json_row(customer)]}
            for name, query in _CHILD_ROWS.items():
                tables[name] = [_json_row(r) for r in connection.execute(query, key)]
            return CustomerExport(customer_id, tables)

    def set_status(self, customer_id: str, status: str) -> None:
        with self.db.transaction() as connection:
            self._known(connection, customer_id)
            connection.execute(
                _UPDATE_CUSTOMER,
                {
                    "key": customer_id,
                    "status": status,
                    "closed_at": _now() if status == "closed" else None,
                },
            )

    def revoke_access(self, customer_id: str) -> dict[str, int]:
        key = {"key": customer_id, "now": _now()}
        with self.db.transaction() as connection:
            self._known(connection, customer_id)
            return {
                "portal_users_disabled": connection.execute(_DISABLE_USERS, key).rowcount,
                "api_keys_revoked": connection.execute(_REVOKE_KEYS, key).rowcount,
                "subscriptions_stopped": connection.execute(_STOP_SUBSCRIPTIONS, key).rowcount,
            }

    def access_grants(self, customer_id: str) -> AccessGrants:
        with self.db.transaction() as connection:
            row = connection.execute(_GRANTS, {"key": customer_id}).one()
            return AccessGrants(**{k: int(v) for k, v in row._mapping.items()})

    def minimise(self, customer_id: str, tables: tuple[str, ...]) -> dict[str, int]:
        key = {"key": customer_id}
        with self.db.transaction() as connection:
            self._known(connection, customer_id)
            return {
                name: connection.execute(_DELETE_CHILDREN[name], key).rowcount for name in tables
            }

    def restore(self, export: CustomerExport, tables: tuple[str, ...]) -> dict[str, int]:
        """Put archived rows back; rows still present are left as they are (idempotent)."""
        if self._suppressed(export.customer_id):
            raise CustomerSuppressed(export.customer_id)
        with self.db.session() as session:
            if session.get(CrmCustomer, export.customer_id) is None:
                session.add(_row_from_json(CrmCustomer, export.tables["customer"][0]))
                session.flush()
            restored = {}
            for name in tables:
                model = CHILD_TABLES[name]
                count = 0
                for data in export.tables.get(name, []):
                    if session.get(model, data["id"]) is None:
                        row = _row_from_json(model, data)
                        if isinstance(row, CrmPortalUser):
                            # Restored locked, without sessions: access is re-granted explicitly.
                            row.enabled = False
                            row.sessions_active = 0
                        session.add(row)
                        count += 1
                restored[name] = count
            return restored

    def regrant_access(self, customer_id: str) -> dict[str, int]:
        """Re-enable portal users. API keys stay revoked: a returning customer issues new ones,
        so a key that leaked while the account was closed never works again."""
        with self.db.session() as session:
            self._customer(session, customer_id)
            users = session.execute(
                update(CrmPortalUser)
                .where(col(CrmPortalUser.customer_id) == customer_id)
                .where(col(CrmPortalUser.enabled).is_(False))
                .values(enabled=True)
            )
            return {"portal_users_enabled": users.rowcount}  # type: ignore[attr-defined]

    def record_bounce(self, customer_id: str, email: str) -> None:
        """Count a permanent refusal against the contact the notice went to."""
        with self.db.session() as session:
            session.execute(
                update(CrmContact)
                .where(col(CrmContact.customer_id) == customer_id, col(CrmContact.email) == email)
                .values(bounce_count=CrmContact.bounce_count + 1)
            )

    def delete_customer(self, customer_id: str) -> dict[str, int]:
        key = {"key": customer_id}
        with self.db.transaction() as connection:
            removed = {
                name: connection.execute(_DELETE_CHILDREN[name], key).rowcount
                for name in reversed(_DELETE_CHILDREN)
            }
            removed["customer"] = connection.execute(_DELETE_CUSTOMER, key).rowcount
            return removed

    def remaining_records(self, customer_id: str) -> dict[str, int]:
        with self.db.transaction() as connection:
            row = connection.execute(_REMAINING, {"key": customer_id}).one()
            return {k: int(v) for k, v in row._mapping.items() if v}
