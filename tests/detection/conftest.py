"""A hand-made CRM on SQLite and PostgreSQL, with histories placed exactly at rule edges."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from closeout.crm.models import (
    CrmComplaint,
    CrmContact,
    CrmCustomer,
    CrmInteraction,
    CrmInvoice,
    CrmOrder,
    CrmSupportTicket,
)
from closeout.db import Database, upgrade

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class HandMadeCrm:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._ids = itertools.count(1)

    def _id(self) -> str:
        return f"r{next(self._ids)}"

    def customer(
        self, customer_id: str, tier: str = "standard", age_days: int = 900, status: str = "active"
    ) -> str:
        with self.db.session() as s:
            s.add(
                CrmCustomer(
                    id=customer_id,
                    name=f"Name of {customer_id}",
                    email=f"{customer_id}@example.org",
                    owner="li.na@example.com",
                    value_tier=tier,
                    status=status,
                    created_at=NOW - timedelta(days=age_days),
                )
            )
        return customer_id

    def order(self, customer_id: str, days_ago: float, cents: int = 10_000) -> None:
        with self.db.session() as s:
            s.add(
                CrmOrder(
                    id=self._id(),
                    customer_id=customer_id,
                    ordered_at=NOW - timedelta(days=days_ago),
                    amount_cents=cents,
                )
            )

    def invoice(
        self, customer_id: str, due_days_ago: float, cents: int = 10_000, paid: bool = False
    ) -> str:
        invoice_id = self._id()
        due = NOW - timedelta(days=due_days_ago)
        with self.db.session() as s:
            s.add(
                CrmInvoice(
                    id=invoice_id,
                    customer_id=customer_id,
                    number=f"INV-{invoice_id}",
                    issued_at=due - timedelta(days=30),
                    due_at=due,
                    amount_cents=cents,
                    paid_at=due if paid else None,
                )
            )
        return invoice_id

    def interaction(self, customer_id: str, days_ago: float) -> None:
        with self.db.session() as s:
            s.add(
                CrmInteraction(
                    id=self._id(),
                    customer_id=customer_id,
                    at=NOW - timedelta(days=days_ago),
                    channel="phone",
                    summary="call",
                )
            )

    def complaint(self, customer_id: str, days_ago: float, dispute: bool = False) -> str:
        complaint_id = self._id()
        with self.db.session() as s:
            s.add(
                CrmComplaint(
                    id=complaint_id,
                    customer_id=customer_id,
                    at=NOW - timedelta(days=days_ago),
                    subject="late",
                    is_dispute=dispute,
                )
            )
        return complaint_id

    def ticket(self, customer_id: str, days_ago: float, hours: float) -> None:
        with self.db.session() as s:
            s.add(
                CrmSupportTicket(
                    id=self._id(),
                    customer_id=customer_id,
                    opened_at=NOW - timedelta(days=days_ago),
                    hours=hours,
                )
            )

    def contact(self, customer_id: str, bounces: int) -> None:
        with self.db.session() as s:
            s.add(
                CrmContact(
                    id=self._id(),
                    customer_id=customer_id,
                    name="Accounts",
                    email=f"accounts@{customer_id}.example",
                    is_primary=True,
                    bounce_count=bounces,
                )
            )


@pytest.fixture
def crm(database_url: str) -> Iterator[HandMadeCrm]:
    upgrade(database_url)
    db = Database.from_url(database_url)
    yield HandMadeCrm(db)
    db.engine.dispose()
