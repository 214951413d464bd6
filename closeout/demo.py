"""Demo data: about fifty customers in the reference CRM, at least one per trigger."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from closeout.crm.models import (
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
from closeout.db import Database
from closeout.domain import Role, Trigger, ValueTier
from closeout.users.accounts import DEMO_PASSWORD, Accounts

DEMO_ACCOUNT_MANAGERS = ("li.na@example.com", "sam.okafor@example.com", "maria.rossi@example.com")

FIRST = [
    "Acme",
    "Blue River",
    "Cedar",
    "Dragon Gate",
    "Evergreen",
    "Falcon",
    "Golden Lotus",
    "Harbor",
    "Iris",
    "Jade",
    "Kestrel",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orchid",
    "Pioneer",
]
SECOND = ["Trading", "Logistics", "Foods", "Studio", "Labs", "Textiles", "Consulting", "Retail"]


@dataclass(frozen=True)
class CustomerShape:
    """How much history a generated customer gets, shaped after one trigger."""

    trigger: Trigger | None
    orders: int = 12
    last_order_days_ago: int = 10
    overdue_invoices: int = 0
    complaints: int = 0
    ticket_hours: float = 2.0
    bounces: int = 0
    interactions: int = 6
    # False: no e-mail or phone anywhere on the record (a data-quality case).
    reachable: bool = True


SHAPES: dict[Trigger | None, CustomerShape] = {
    None: CustomerShape(None),
    Trigger.INACTIVITY: CustomerShape(
        Trigger.INACTIVITY, orders=5, last_order_days_ago=400, interactions=1
    ),
    Trigger.PAYMENT_ARREARS: CustomerShape(
        Trigger.PAYMENT_ARREARS, overdue_invoices=3, last_order_days_ago=70
    ),
    # One order a year cannot pay for 80 support hours.
    Trigger.UNPROFITABLE: CustomerShape(Trigger.UNPROFITABLE, orders=1, ticket_hours=80.0),
    Trigger.RESOURCE_DRAIN: CustomerShape(Trigger.RESOURCE_DRAIN, ticket_hours=120.0),
    Trigger.RELATIONSHIP_BREAKDOWN: CustomerShape(Trigger.RELATIONSHIP_BREAKDOWN, complaints=5),
    Trigger.UNREACHABLE: CustomerShape(Trigger.UNREACHABLE, bounces=4, last_order_days_ago=200),
    Trigger.CUSTOMER_REQUEST: CustomerShape(Trigger.CUSTOMER_REQUEST),
    Trigger.FRAUD: CustomerShape(Trigger.FRAUD, overdue_invoices=1),
    Trigger.MANUAL: CustomerShape(Trigger.MANUAL),
    Trigger.DATA_QUALITY: CustomerShape(Trigger.DATA_QUALITY, reachable=False),
}


def add_customer(
    session: Session,
    customer_id: str,
    *,
    name: str,
    owner: str,
    value_tier: ValueTier = ValueTier.STANDARD,
    locale: str = "en",
    country: str | None = None,
    shape: CustomerShape = SHAPES[None],
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> CrmCustomer:
    """Add one customer with a full history: contacts, orders, invoices, access, billing."""
    now = now or datetime.now(UTC)
    # Demo data only: seeded so every dev stack shows the same customers; no secret.
    rng = rng or random.Random(customer_id)  # nosec B311
    slug = name.lower().replace(" ", "")
    phone = f"+86-10-{rng.randint(1000000, 9999999)}"

    def address(box: str) -> str:
        return f"{box}@{slug}.example" if shape.reachable else ""

    customer = CrmCustomer(
        id=customer_id,
        name=name,
        email=address("billing"),
        phone=phone if shape.reachable else None,
        owner=owner,
        value_tier=value_tier,
        locale=locale,
        country=country or ("CN" if locale.startswith("zh") else "DE"),
        status="active",
        created_at=now - timedelta(days=900),
    )
    session.add(customer)
    session.flush()
    session.add(
        CrmContact(
            id=f"{customer_id}-ct1",
            customer_id=customer_id,
            name=f"{name} Accounts",
            email=address("accounts"),
            is_primary=True,
            bounce_count=shape.bounces,
        )
    )
    session.add(
        CrmContact(
            id=f"{customer_id}-ct2",
            customer_id=customer_id,
            name=f"{name} Office",
            email=address("office"),
        )
    )
    for i in range(shape.orders):
        at = now - timedelta(days=shape.last_order_days_ago + i * 30)
        session.add(
            CrmOrder(
                id=f"{customer_id}-o{i}",
                customer_id=customer_id,
                ordered_at=at,
                amount_cents=rng.randint(5_000, 500_000),
            )
        )
        overdue = i < shape.overdue_invoices
        session.add(
            CrmInvoice(
                id=f"{customer_id}-i{i}",
                customer_id=customer_id,
                number=f"INV-{customer_id}-{i:03d}",
                issued_at=at,
                due_at=at + timedelta(days=30),
                amount_cents=rng.randint(5_000, 500_000),
                paid_at=None if overdue else at + timedelta(days=rng.randint(5, 25)),
            )
        )
    for i in range(shape.interactions):
        session.add(
            CrmInteraction(
                id=f"{customer_id}-x{i}",
                customer_id=customer_id,
                at=now - timedelta(days=shape.last_order_days_ago + i * 20),
                channel=rng.choice(["email", "phone", "visit"]),
                summary="Account review",
            )
        )
    for i in range(shape.complaints):
        session.add(
            CrmComplaint(
                id=f"{customer_id}-c{i}",
                customer_id=customer_id,
                at=now - timedelta(days=10 + i * 7),
                subject="Late delivery",
                is_dispute=i == 0,
            )
        )
    session.add(
        CrmSupportTicket(
            id=f"{customer_id}-t0",
            customer_id=customer_id,
            opened_at=now - timedelta(days=40),
            hours=shape.ticket_hours,
        )
    )
    session.add(
        CrmPortalUser(
            id=f"{customer_id}-u1",
            customer_id=customer_id,
            login=f"admin@{slug}.example",
            enabled=True,
            sessions_active=1,
        )
    )
    session.add(
        CrmApiKey(
            id=f"{customer_id}-k1", customer_id=customer_id, key_prefix=f"ck_{customer_id[-4:]}"
        )
    )
    session.add(
        CrmSubscription(
            id=f"{customer_id}-s1",
            customer_id=customer_id,
            plan="Business",
            amount_cents=49_900,
            active=True,
        )
    )
    return customer


def seed_demo(db: Database, count: int = 50, seed: int = 7) -> int:
    """Seed the demo CRM once; returns how many customers were added (0 if already seeded)."""
    # Demo data only: seeded so every dev stack shows the same customers; no secret.
    rng = random.Random(seed)  # nosec B311
    now = datetime.now(UTC)
    with db.session() as session:
        if session.exec(select(func.count()).select_from(CrmCustomer)).one():
            return 0
        triggers: list[Trigger | None] = [t for t in Trigger]
        for n in range(1, count + 1):
            trigger = triggers[n - 1] if n <= len(triggers) else None
            tier = (
                ValueTier.KEY
                if n % 10 == 0
                else ValueTier.HIGH
                if n % 4 == 0
                else ValueTier.STANDARD
            )
            add_customer(
                session,
                f"cust-{n:04d}",
                name=f"{rng.choice(FIRST)} {rng.choice(SECOND)} {n}",
                owner=DEMO_ACCOUNT_MANAGERS[n % len(DEMO_ACCOUNT_MANAGERS)],
                value_tier=tier,
                locale="zh-CN" if n % 3 == 0 else "en",
                shape=SHAPES[trigger],
                now=now,
                rng=rng,
            )
        return count


# One user per role for dev mode, all with the demo password (refused outside dev mode).
DEMO_USERS: tuple[tuple[str, Role, str, str], ...] = (
    ("li.na@example.com", Role.ACCOUNT_MANAGER, "Li Na", "zh-CN"),
    ("sam.okafor@example.com", Role.ACCOUNT_MANAGER, "Sam Okafor", "en"),
    ("maria.rossi@example.com", Role.ACCOUNT_MANAGER, "Maria Rossi", "en"),
    ("grace.manager@example.com", Role.MANAGER, "Grace Hopper", "en"),
    ("kim.compliance@example.com", Role.COMPLIANCE_OFFICER, "Kim Park", "en"),
    ("admin@example.com", Role.ADMIN, "Admin", "en"),
)


def seed_demo_users(accounts: Accounts) -> int:
    """Create the demo users that do not exist yet; returns how many were added."""
    added = 0
    for email, role, name, locale in DEMO_USERS:
        if accounts.by_email(email) is None:
            accounts.add(email, role, DEMO_PASSWORD, display_name=name, locale=locale)
            added += 1
    return added
