"""Each rule at its threshold edges, on SQLite and PostgreSQL; the detector's dispositions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from api.evidence import EVIDENCE_MODELS
from closeout.contracts import AuditEntry, CaseOpened, CloseCustomerInput
from closeout.crm.models import CrmCustomer
from closeout.detection.config import DetectionConfig
from closeout.detection.detector import Detector, Disposition, Scan
from closeout.detection.models import DetectionExclusion
from closeout.detection.rules import RULES
from closeout.domain import ChurnClass, Trigger
from tests.detection.conftest import NOW, HandMadeCrm
from tests.support import read_model

CONFIG = DetectionConfig()


def flagged(crm: HandMadeCrm, trigger: Trigger) -> dict[str, dict[str, object]]:
    rule = next(r for r in RULES if r.trigger is trigger)
    rows = Detector(crm.db, CONFIG).run_rule(rule, NOW)
    found = {row.customer_id: rule.evidence(row, NOW) for row in rows}
    for evidence in found.values():  # what a rule finds is valid evidence for its trigger
        EVIDENCE_MODELS[trigger].model_validate(
            {k: v for k, v in evidence.items() if v is not None}
        )
    return found


def test_inactivity_edges(crm: HandMadeCrm) -> None:
    crm.customer("gone")
    crm.order("gone", days_ago=181)
    crm.interaction("gone", days_ago=200)
    crm.customer("recent-order")
    crm.order("recent-order", days_ago=179)
    crm.customer("recent-call")
    crm.order("recent-call", days_ago=400)
    crm.interaction("recent-call", days_ago=10)
    crm.customer("new", age_days=100)  # no history yet, but not long enough to be inactive
    crm.customer("silent", age_days=365)  # never ordered, never talked, for a year
    crm.customer("closed", status="closed")
    found = flagged(crm, Trigger.INACTIVITY)
    assert set(found) == {"gone", "silent"}
    assert found["gone"]["inactive_days"] == 181
    assert found["gone"]["last_order_date"] == (NOW - timedelta(days=181)).date().isoformat()
    assert found["silent"]["inactive_days"] == 365


def test_payment_arrears_edges(crm: HandMadeCrm) -> None:
    crm.customer("two-late")
    ids = [crm.invoice("two-late", 31), crm.invoice("two-late", 45, cents=5_000)]
    crm.invoice("two-late", 31, paid=True)
    crm.customer("one-small")
    crm.invoice("one-small", 31, cents=50_000)
    crm.customer("one-large")
    crm.invoice("one-large", 31, cents=100_000)
    crm.customer("not-yet")
    crm.invoice("not-yet", 29)
    crm.invoice("not-yet", 29)
    found = flagged(crm, Trigger.PAYMENT_ARREARS)
    assert set(found) == {"two-late", "one-large"}
    assert found["two-late"] == {
        "invoice_ids": sorted(ids),
        "overdue_amount_cents": 15_000,
        "days_overdue": 45,
        "default_count": 2,
    }


def test_unprofitable_edges(crm: HandMadeCrm) -> None:
    crm.customer("profitable")
    crm.order("profitable", 30, cents=100_000)
    crm.ticket("profitable", 30, hours=2)  # costs 16,000 of 100,000
    crm.customer("losing")
    crm.order("losing", 30, cents=100_000)
    crm.ticket("losing", 30, hours=20)  # costs 160,000
    crm.customer("old-revenue")
    crm.order("old-revenue", 400, cents=1_000_000)  # outside the 12-month window
    crm.ticket("old-revenue", 30, hours=1)
    crm.customer("break-even")
    crm.order("break-even", 30, cents=80_000)
    crm.ticket("break-even", 30, hours=10)  # margin exactly 0: not a loss
    found = flagged(crm, Trigger.UNPROFITABLE)
    assert set(found) == {"losing", "old-revenue"}
    assert found["losing"] == {
        "revenue_cents": 100_000,
        "cost_to_serve_cents": 160_000,
        "margin_percent": -60.0,
    }
    assert found["old-revenue"]["margin_percent"] == -100.0


def test_resource_drain_against_the_tier_median(crm: HandMadeCrm) -> None:
    for name, hours in [("a", 1), ("b", 1), ("c", 2), ("d", 2), ("e", 2), ("f", 5.9), ("g", 6)]:
        crm.customer(name)
        crm.ticket(name, 10, hours=hours)
    crm.customer("key-account", tier="key")  # its own tier: compared with itself only
    crm.ticket("key-account", 10, hours=30)
    crm.customer("last-year")
    crm.ticket("last-year", 200, hours=100)  # outside the 90-day window
    found = flagged(crm, Trigger.RESOURCE_DRAIN)
    # Standard tier median is 2 hours: three times that is 6.
    assert set(found) == {"g"}
    assert found["g"] == {"ticket_count": 1, "support_hours": 6.0, "ratio_to_segment_median": 3.0}


def test_relationship_breakdown_edges(crm: HandMadeCrm) -> None:
    crm.customer("angry")
    complaints = [crm.complaint("angry", 5), crm.complaint("angry", 80)]
    dispute = crm.complaint("angry", 30, dispute=True)
    crm.customer("annoyed")
    crm.complaint("annoyed", 5)
    crm.complaint("annoyed", 6)
    crm.complaint("annoyed", 91)  # outside the window
    found = flagged(crm, Trigger.RELATIONSHIP_BREAKDOWN)
    assert found == {"angry": {"complaint_ids": sorted(complaints), "dispute_ids": [dispute]}}


def test_unreachable_edges(crm: HandMadeCrm) -> None:
    crm.customer("lost")
    crm.contact("lost", bounces=3)
    crm.interaction("lost", 61)
    crm.customer("bouncing-but-talking")
    crm.contact("bouncing-but-talking", bounces=5)
    crm.interaction("bouncing-but-talking", 59)
    crm.customer("two-bounces")
    crm.contact("two-bounces", bounces=2)
    found = flagged(crm, Trigger.UNREACHABLE)
    assert found == {"lost": {"bounced_emails": 3, "days_without_answer": 61}}


def _open_case(crm: HandMadeCrm, customer_id: str) -> str:
    case_id = str(uuid.uuid4())
    read_model(crm.db).record_case_opened(
        CaseOpened(
            CloseCustomerInput(
                case_id, customer_id, Trigger.MANUAL, ChurnClass.FAULT, "standard", "x"
            ),
            f"close-customer-{customer_id}",
            "run",
            AuditEntry(str(uuid.uuid4()), "x", "case_opened", NOW),
        )
    )
    return case_id


def test_the_detector_flags_each_customer_once_and_disposes(crm: HandMadeCrm) -> None:
    for name in ("new", "has-case", "excluded", "exclusion-expired"):
        crm.customer(name)
        crm.invoice(name, 40)
        crm.invoice(name, 40)
    crm.interaction("new", 400)  # also inactive: arrears comes first
    case_id = _open_case(crm, "has-case")
    with crm.db.session() as s:
        for name, days in (("excluded", 10), ("exclusion-expired", -1)):
            s.add(
                DetectionExclusion(
                    id=str(uuid.uuid4()),
                    customer_id=name,
                    reason="talking to them",
                    created_by="li.na@example.com",
                    created_at=NOW - timedelta(days=30),
                    expires_at=NOW + timedelta(days=days),
                )
            )
    scan: Scan = Detector(crm.db, CONFIG).scan(NOW)
    by_id = {c.customer_id: c for c in scan.candidates}
    assert set(by_id) == {"new", "has-case", "excluded", "exclusion-expired"}
    assert by_id["new"].trigger is Trigger.PAYMENT_ARREARS
    assert by_id["new"].also == (Trigger.INACTIVITY,)
    assert by_id["new"].churn_class is ChurnClass.NON_MALICIOUS
    assert by_id["has-case"].disposition is Disposition.OPEN_CASE
    assert by_id["has-case"].case_id == case_id
    assert by_id["excluded"].disposition is Disposition.EXCLUDED
    assert by_id["exclusion-expired"].disposition is Disposition.NEW
    assert scan.counts()["disposition"] == {"new": 2, "open_case": 1, "excluded": 1}
    assert set(scan.seconds) == {r.name for r in RULES} | {"dispositions"}


def test_declining_orders_edges(crm: HandMadeCrm) -> None:
    # Windows of 90 days: the last one (0-90 days ago) against the one before (90-180).
    def orders(customer_id: str, before: int, recent: int, recent_at: float = 10) -> None:
        crm.customer(customer_id)
        for n in range(before):
            crm.order(customer_id, 100 + n)
        for n in range(recent):
            crm.order(customer_id, recent_at + n)

    orders("fell-75", before=4, recent=1)
    orders("fell-60", before=5, recent=2)  # exactly the threshold
    orders("fell-50", before=4, recent=2)
    orders("too-few-before", before=3, recent=0)
    orders("stopped", before=4, recent=0)
    orders("steady", before=4, recent=4)
    crm.customer("on-the-edge")
    for n in range(4):
        crm.order("on-the-edge", 100 + n)
    for _ in range(2):  # exactly 90 days ago: the last window's (else: 6 before, none since)
        crm.order("on-the-edge", 90)
    rule = next(r for r in RULES if r.name == "declining_orders")
    rows = Detector(crm.db, CONFIG).run_rule(rule, NOW)
    found = {row.customer_id: rule.evidence(row, NOW) for row in rows}
    assert set(found) == {"fell-75", "fell-60", "stopped"}
    assert found["fell-75"] == {
        "inactive_days": 10,
        "last_order_date": (NOW - timedelta(days=10)).date().isoformat(),
        "order_drop_percent": 75.0,
    }
    assert found["fell-60"]["order_drop_percent"] == 60.0
    assert found["stopped"]["order_drop_percent"] == 100.0
    assert found["stopped"]["inactive_days"] == 100
    for evidence in found.values():  # valid evidence of the inactivity trigger
        EVIDENCE_MODELS[Trigger.INACTIVITY].model_validate(evidence)

    # In the scan, a customer the silence rule catches too is flagged once, for inactivity.
    scan = Detector(crm.db, CONFIG).scan(NOW)
    by_id = {c.customer_id: c for c in scan.candidates}
    assert by_id["fell-75"].trigger is Trigger.INACTIVITY and by_id["fell-75"].also == ()
    assert "declining_orders" in scan.seconds


def test_a_customer_gone_to_a_competitor_is_competitive_churn(crm: HandMadeCrm) -> None:
    crm.customer("went-to-rival", age_days=900)  # no order, no word: inactive
    crm.customer("quiet")
    crm.customer("owes-and-left")
    crm.invoice("owes-and-left", 40)
    crm.invoice("owes-and-left", 40)
    with crm.db.session() as session:
        for customer_id in ("went-to-rival", "owes-and-left"):
            row = session.get(CrmCustomer, customer_id)
            assert row is not None
            row.competitor = "Rival GmbH"
            session.add(row)
    by_id = {c.customer_id: c for c in Detector(crm.db, CONFIG).scan(NOW).candidates}
    rival = by_id["went-to-rival"]
    assert rival.churn_class is ChurnClass.COMPETITIVE
    assert rival.evidence["competitor"] == "Rival GmbH"
    EVIDENCE_MODELS[rival.trigger].model_validate(rival.evidence)
    assert by_id["quiet"].churn_class is ChurnClass.NATURAL
    # The arrears rule named its own kind of churn: it stands.
    assert by_id["owes-and-left"].churn_class is ChurnClass.NON_MALICIOUS
    assert "competitor" not in by_id["owes-and-left"].evidence
