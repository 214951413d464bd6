"""The reference CRM on SQLModel: the CRM port's bundled adapter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlmodel import Session, SQLModel, col, select

from closeout.crm.models import (
    CHILD_TABLES,
    CrmApiKey,
    CrmComplaint,
    CrmContact,
    CrmCustomer,
    CrmInteraction,
    CrmInvoice,
    CrmOrder,
    CrmPortalUser,
    CrmSubscription,
    CrmSupportTicket,
)
from closeout.crm.port import (
    AccessGrants,
    AccountHistory,
    ComplaintLine,
    CustomerExport,
    CustomerNotFound,
    CustomerProfile,
    CustomerSuppressed,
    InvoiceLine,
    MailContact,
)
from closeout.db import Database
from closeout.suppression.ledger import SuppressionLedger


def _now() -> datetime:
    return datetime.now(UTC)


def _row_to_json(row: SQLModel) -> dict[str, Any]:
    data = row.model_dump()
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in data.items()}


def _row_from_json(model: type[SQLModel], data: dict[str, Any]) -> SQLModel:
    return model.model_validate(data)


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
        self, q: str | None, status: str | None, limit: int, offset: int
    ) -> tuple[list[CrmCustomer], int]:
        """Customers whose name, e-mail or id contains `q`, by id; and how many match."""
        query = select(CrmCustomer)
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
            return list(rows), int(total)

    def customer(self, customer_id: str) -> CrmCustomer | None:
        if self._suppressed(customer_id):
            return None
        with self.db.session() as session:
            return session.get(CrmCustomer, customer_id)

    def get_profile(self, customer_id: str) -> CustomerProfile | None:
        if self._suppressed(customer_id):
            return None
        with self.db.session() as session:
            c = session.get(CrmCustomer, customer_id)
            if c is None:
                return None
            return CustomerProfile(c.id, c.owner, c.value_tier, c.locale, c.status, c.country)

    def account_history(self, customer_id: str, recent: int = 5) -> AccountHistory | None:
        """Orders, invoices, complaints and contacts of one customer, aggregated in SQL."""
        if self._suppressed(customer_id):
            return None
        with self.db.session() as session:
            c = session.get(CrmCustomer, customer_id)
            if c is None:
                return None
            orders, order_value, last_order = session.exec(
                select(
                    func.count(), func.coalesce(func.sum(CrmOrder.amount_cents), 0),
                    func.max(CrmOrder.ordered_at),
                ).where(CrmOrder.customer_id == customer_id)
            ).one()  # fmt: skip
            unpaid = session.exec(
                select(func.coalesce(func.sum(CrmInvoice.amount_cents), 0)).where(
                    CrmInvoice.customer_id == customer_id, col(CrmInvoice.paid_at).is_(None)
                )
            ).one()
            invoices = session.exec(
                select(CrmInvoice)
                .where(CrmInvoice.customer_id == customer_id)
                .order_by(col(CrmInvoice.issued_at).desc())
                .limit(recent)
            ).all()
            complaints = session.exec(
                select(CrmComplaint)
                .where(CrmComplaint.customer_id == customer_id)
                .order_by(col(CrmComplaint.at).desc())
                .limit(recent)
            ).all()
            interactions, last_interaction = session.exec(
                select(func.count(), func.max(CrmInteraction.at)).where(
                    CrmInteraction.customer_id == customer_id
                )
            ).one()
            hours = session.exec(
                select(func.coalesce(func.sum(CrmSupportTicket.hours), 0.0)).where(
                    CrmSupportTicket.customer_id == customer_id
                )
            ).one()
            return AccountHistory(
                name=c.name,
                owner=c.owner,
                value_tier=c.value_tier,
                status=c.status,
                customer_since=c.created_at,
                orders=int(orders),
                order_value_cents=int(order_value),
                last_order_at=last_order,
                unpaid_cents=int(unpaid),
                recent_invoices=[
                    InvoiceLine(i.number, i.issued_at, i.due_at, i.amount_cents, i.paid_at)
                    for i in invoices
                ],
                complaints=[
                    ComplaintLine(x.at, x.subject, x.is_dispute, x.resolved_at) for x in complaints
                ],
                interactions=int(interactions),
                last_interaction_at=last_interaction,
                support_hours=float(hours),
            )

    def primary_contact(self, customer_id: str) -> MailContact | None:
        if self._suppressed(customer_id):
            return None  # a deleted customer is never written to again
        with self.db.session() as session:
            customer = session.get(CrmCustomer, customer_id)
            if customer is None:
                return None
            contact = session.exec(
                select(CrmContact)
                .where(CrmContact.customer_id == customer_id)
                .order_by(col(CrmContact.is_primary).desc(), col(CrmContact.id))
            ).first()
            if contact is not None:
                return MailContact(contact.email, contact.name, customer.locale)
            return MailContact(customer.email, customer.name, customer.locale)

    def export_customer(self, customer_id: str) -> CustomerExport:
        with self.db.session() as session:
            customer = self._customer(session, customer_id)
            tables: dict[str, list[dict[str, Any]]] = {"customer": [_row_to_json(customer)]}
            for name, model in CHILD_TABLES.items():
                rows = session.exec(
                    select(model)
                    .where(model.customer_id == customer_id)  # type: ignore[attr-defined]
                    .order_by(model.id)  # type: ignore[attr-defined]
                ).all()
                tables[name] = [_row_to_json(r) for r in rows]
            return CustomerExport(customer_id, tables)

    def set_status(self, customer_id: str, status: str) -> None:
        with self.db.session() as session:
            customer = self._customer(session, customer_id)
            customer.status = status
            customer.closed_at = _now() if status == "closed" else None
            session.add(customer)

    def revoke_access(self, customer_id: str) -> dict[str, int]:
        now = _now()
        with self.db.session() as session:
            self._customer(session, customer_id)
            users = session.execute(
                update(CrmPortalUser)
                .where(col(CrmPortalUser.customer_id) == customer_id)
                .where(col(CrmPortalUser.enabled) | (col(CrmPortalUser.sessions_active) > 0))
                .values(enabled=False, sessions_active=0)
            )
            keys = session.execute(
                update(CrmApiKey)
                .where(col(CrmApiKey.customer_id) == customer_id)
                .where(col(CrmApiKey.revoked_at).is_(None))
                .values(revoked_at=now)
            )
            subs = session.execute(
                update(CrmSubscription)
                .where(col(CrmSubscription.customer_id) == customer_id)
                .where(col(CrmSubscription.active))
                .values(active=False, stopped_at=now)
            )
            return {
                "portal_users_disabled": users.rowcount,  # type: ignore[attr-defined]
                "api_keys_revoked": keys.rowcount,  # type: ignore[attr-defined]
                "subscriptions_stopped": subs.rowcount,  # type: ignore[attr-defined]
            }

    def access_grants(self, customer_id: str) -> AccessGrants:
        with self.db.session() as session:

            def count(stmt: Any) -> int:
                return int(session.exec(stmt).one())

            return AccessGrants(
                enabled_portal_users=count(
                    select(func.count())
                    .select_from(CrmPortalUser)
                    .where(CrmPortalUser.customer_id == customer_id, col(CrmPortalUser.enabled))
                ),
                active_sessions=count(
                    select(func.coalesce(func.sum(CrmPortalUser.sessions_active), 0)).where(
                        CrmPortalUser.customer_id == customer_id
                    )
                ),
                active_api_keys=count(
                    select(func.count())
                    .select_from(CrmApiKey)
                    .where(
                        CrmApiKey.customer_id == customer_id, col(CrmApiKey.revoked_at).is_(None)
                    )
                ),
                active_subscriptions=count(
                    select(func.count())
                    .select_from(CrmSubscription)
                    .where(CrmSubscription.customer_id == customer_id, col(CrmSubscription.active))
                ),
            )

    def minimise(self, customer_id: str, tables: tuple[str, ...]) -> dict[str, int]:
        with self.db.session() as session:
            self._customer(session, customer_id)
            removed = {}
            for name in tables:
                model = CHILD_TABLES[name]
                result = session.execute(
                    delete(model).where(model.customer_id == customer_id)  # type: ignore[attr-defined]
                )
                removed[name] = result.rowcount  # type: ignore[attr-defined]
            return removed

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
        with self.db.session() as session:
            removed = {}
            for name, model in reversed(CHILD_TABLES.items()):
                result = session.execute(
                    delete(model).where(model.customer_id == customer_id)  # type: ignore[attr-defined]
                )
                removed[name] = result.rowcount  # type: ignore[attr-defined]
            result = session.execute(delete(CrmCustomer).where(col(CrmCustomer.id) == customer_id))
            removed["customer"] = result.rowcount  # type: ignore[attr-defined]
            return removed

    def remaining_records(self, customer_id: str) -> dict[str, int]:
        with self.db.session() as session:
            remaining = {
                "customer": int(
                    session.exec(
                        select(func.count())
                        .select_from(CrmCustomer)
                        .where(CrmCustomer.id == customer_id)
                    ).one()
                )
            }
            for name, model in CHILD_TABLES.items():
                remaining[name] = int(
                    session.exec(
                        select(func.count())
                        .select_from(model)
                        .where(model.customer_id == customer_id)  # type: ignore[attr-defined]
                    ).one()
                )
            return {k: v for k, v in remaining.items() if v}
