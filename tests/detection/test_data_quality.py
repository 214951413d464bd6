"""Duplicate and unreachable records, found on SQLite and PostgreSQL, and reviewed first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import col

from api.evidence import EVIDENCE_MODELS
from closeout.crm.models import CrmContact, CrmCustomer
from closeout.detection.config import DetectionConfig
from closeout.detection.detector import Detector
from closeout.detection.rules import RULES
from closeout.domain import Trigger
from tests.detection.conftest import NOW, HandMadeCrm


def _set(crm: HandMadeCrm, customer_id: str, **values: Any) -> None:
    with crm.db.transaction() as conn:
        conn.execute(update(CrmCustomer).where(col(CrmCustomer.id) == customer_id).values(**values))


def _found(crm: HandMadeCrm, label: str) -> dict[str, dict[str, Any]]:
    rule = next(r for r in RULES if r.name == label)
    assert rule.trigger is Trigger.DATA_QUALITY
    rows = Detector(crm.db, DetectionConfig()).run_rule(rule, NOW)
    found = {row.customer_id: rule.evidence(row, NOW) for row in rows}
    for evidence in found.values():
        EVIDENCE_MODELS[Trigger.DATA_QUALITY].model_validate(evidence)
    return found


def test_duplicates_point_at_the_oldest_record(crm: HandMadeCrm) -> None:
    crm.customer("first", age_days=900)
    crm.customer("second", age_days=300)
    crm.customer("third", age_days=100)
    crm.customer("alone", age_days=50)
    crm.customer("merged-before", age_days=1000, status="merged")
    _set(crm, "first", email="Billing@Acme.example", phone="+86 10 1234-5678", tax_id="91-1100")
    _set(crm, "second", email=" billing@acme.example ", phone="(86) 10.1234 5678")
    _set(crm, "third", email="other@acme.example", tax_id="911100")
    _set(crm, "alone", phone="+49 30 000")
    _set(crm, "merged-before", email="billing@acme.example")  # not active: not a match
    found = _found(crm, "duplicate_records")
    assert found == {
        "second": {"problem": "duplicate", "duplicate_of": ["first"], "same": ["email", "phone"]},
        "third": {"problem": "duplicate", "duplicate_of": ["first"], "same": ["tax_id"]},
    }


def test_a_record_nobody_can_reach(crm: HandMadeCrm) -> None:
    crm.customer("nothing")
    _set(crm, "nothing", email="", phone=None)
    crm.customer("phone-only")
    _set(crm, "phone-only", email="  ", phone="+86 10 5555")
    crm.customer("through-a-contact")
    _set(crm, "through-a-contact", email="")
    crm.contact("through-a-contact", bounces=0)
    crm.customer("empty-contact")
    _set(crm, "empty-contact", email="")
    with crm.db.session() as s:
        s.add(CrmContact(id="ct-empty", customer_id="empty-contact", name="x", email=" "))
    found = _found(crm, "no_contact")
    assert found == {
        "nothing": {"problem": "no_contact"},
        "empty-contact": {"problem": "no_contact"},
    }


def test_a_duplicate_is_reviewed_before_anything_else(crm: HandMadeCrm) -> None:
    crm.customer("older")
    crm.customer("newer", age_days=400)  # silent for a year: inactive as well
    _set(crm, "newer", email="older@example.org")
    scan = Detector(crm.db, DetectionConfig()).scan(NOW)
    newer = next(c for c in scan.candidates if c.customer_id == "newer")
    assert newer.trigger is Trigger.DATA_QUALITY and Trigger.INACTIVITY in newer.also
    assert newer.evidence == {"problem": "duplicate", "duplicate_of": ["older"], "same": ["email"]}
