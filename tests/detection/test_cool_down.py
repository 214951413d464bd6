"""After a case ends retained, rejected or cancelled, detection leaves the customer alone for a
while: at its edges, per outcome, broken by a stronger trigger or much worse evidence; on SQLite
and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from closeout.contracts import AuditEntry, CaseChange, CaseOpened, CloseCustomerInput
from closeout.detection.config import DetectionConfig
from closeout.detection.detector import Candidate, Detector, Disposition
from closeout.domain import ChurnClass, Outcome, Trigger
from closeout.settings import Settings
from tests.detection.conftest import NOW, HandMadeCrm
from tests.support import read_model


def _ended_case(
    crm: HandMadeCrm,
    customer_id: str,
    outcome: Outcome | None,
    closed_at: datetime,
    trigger: Trigger = Trigger.PAYMENT_ARREARS,
    evidence: dict[str, Any] | None = None,
) -> str:
    case_id = str(uuid.uuid4())
    repo = read_model(crm.db)
    repo.record_case_opened(
        CaseOpened(
            CloseCustomerInput(
                case_id,
                customer_id,
                trigger,
                ChurnClass.NON_MALICIOUS,
                "standard",
                "detection",
                evidence if evidence is not None else {"overdue_amount_cents": 20_000},
            ),
            f"close-customer-{customer_id}",
            "run",
            AuditEntry(str(uuid.uuid4()), "x", "case_opened", closed_at - timedelta(days=20)),
        )
    )
    if outcome is not None:
        repo.apply_case_change(
            CaseChange(
                case_id, AuditEntry(str(uuid.uuid4()), "x", "case_ended", closed_at), None, outcome
            )
        )
    return case_id


def _in_arrears(crm: HandMadeCrm, customer_id: str, cents: int = 10_000) -> None:
    """Two invoices 40 days overdue: flagged for payment arrears, `2 * cents` overdue."""
    crm.customer(customer_id)
    crm.invoice(customer_id, 40, cents)
    crm.invoice(customer_id, 40, cents)


def _scan(crm: HandMadeCrm, config: DetectionConfig | None = None) -> dict[str, Candidate]:
    scan = Detector(crm.db, config or DetectionConfig()).scan(NOW)
    return {c.customer_id: c for c in scan.candidates}


def test_a_case_that_ended_lately_holds_the_customer_back_until_its_cool_down_ends(
    crm: HandMadeCrm,
) -> None:
    ends = {
        "won-back-yesterday": (Outcome.RETAINED, 1),
        "rejected-89-days-ago": (Outcome.REJECTED, 89),
        "cancelled-just-inside": (Outcome.CANCELLED, 90 - 1 / 24),
        "cancelled-just-over": (Outcome.CANCELLED, 90),
        "deleted-lately": (Outcome.DELETED, 1),
        "reactivated-lately": (Outcome.REACTIVATED, 1),
    }
    cases = {}
    for name, (outcome, days) in ends.items():
        _in_arrears(crm, name)
        cases[name] = _ended_case(crm, name, outcome, NOW - timedelta(days=days))

    found = _scan(crm)

    cooling = {n for n, c in found.items() if c.disposition is Disposition.COOLING_DOWN}
    assert cooling == {"won-back-yesterday", "rejected-89-days-ago", "cancelled-just-inside"}
    assert found["cancelled-just-over"].disposition is Disposition.NEW
    assert found["deleted-lately"].disposition is Disposition.NEW
    assert found["reactivated-lately"].disposition is Disposition.NEW
    held = found["won-back-yesterday"]
    assert held.case_id == cases["won-back-yesterday"]
    until = (NOW + timedelta(days=89)).date()
    assert held.why == (
        f"cooling down until {until}: case {cases['won-back-yesterday']} ended retained "
        f"on {(NOW - timedelta(days=1)).date()}"
    )


def test_each_outcome_may_have_a_cool_down_of_its_own(crm: HandMadeCrm) -> None:
    for name, outcome in (("won", Outcome.RETAINED), ("rejected", Outcome.REJECTED)):
        _in_arrears(crm, name)
        _ended_case(crm, name, outcome, NOW - timedelta(days=40))
    config = DetectionConfig.model_validate(
        {"cool_down_by_outcome": {"rejected": "P30D"}, "cool_down": "P180D"}
    )

    found = _scan(crm, config)

    assert found["won"].disposition is Disposition.COOLING_DOWN
    assert found["rejected"].disposition is Disposition.NEW
    assert _scan(crm, DetectionConfig(cool_down=timedelta(0)))["won"].disposition is (
        Disposition.NEW
    )


def test_the_latest_ended_case_and_an_open_case_decide(crm: HandMadeCrm) -> None:
    _in_arrears(crm, "twice")
    _ended_case(crm, "twice", Outcome.REJECTED, NOW - timedelta(days=80))
    latest = _ended_case(crm, "twice", Outcome.RETAINED, NOW - timedelta(days=5))
    _in_arrears(crm, "open-again")
    _ended_case(crm, "open-again", Outcome.RETAINED, NOW - timedelta(days=5))
    open_case = _ended_case(crm, "open-again", None, NOW - timedelta(days=1))

    found = _scan(crm)

    assert found["twice"].disposition is Disposition.COOLING_DOWN
    assert found["twice"].case_id == latest
    assert found["open-again"].disposition is Disposition.OPEN_CASE
    assert found["open-again"].case_id == open_case


def test_much_worse_evidence_of_the_same_ground_ends_the_cool_down(crm: HandMadeCrm) -> None:
    # The ended case recorded 20,000 cents overdue; twice that flags again at the default
    # factor of 2, just under it does not.
    _in_arrears(crm, "doubled", cents=20_000)  # 40,000 overdue
    _ended_case(crm, "doubled", Outcome.RETAINED, NOW - timedelta(days=10))
    _in_arrears(crm, "just-under", cents=19_999)  # 39,998 overdue
    _ended_case(crm, "just-under", Outcome.RETAINED, NOW - timedelta(days=10))
    # An ended case of another ground says nothing of how bad arrears got.
    _in_arrears(crm, "other-ground", cents=1_000_000)
    _ended_case(
        crm,
        "other-ground",
        Outcome.RETAINED,
        NOW - timedelta(days=10),
        Trigger.INACTIVITY,
        {"inactive_days": 200},
    )

    found = _scan(crm)

    assert found["doubled"].disposition is Disposition.NEW
    assert found["doubled"].why is not None
    assert "payment_arrears got worse, 40000 against 20000" in found["doubled"].why
    assert found["just-under"].disposition is Disposition.COOLING_DOWN
    assert found["other-ground"].disposition is Disposition.COOLING_DOWN
    lower = DetectionConfig(cool_down_worse_factor=1.5)
    assert _scan(crm, lower)["just-under"].disposition is Disposition.NEW


def test_a_stronger_trigger_ends_the_cool_down(crm: HandMadeCrm) -> None:
    _in_arrears(crm, "breaker")
    _ended_case(crm, "breaker", Outcome.RETAINED, NOW - timedelta(days=10))
    # Arrears may be set to end a cool-down too.
    config = DetectionConfig(cool_down_breakers=(Trigger.FRAUD, Trigger.PAYMENT_ARREARS))

    found = _scan(crm, config)

    assert found["breaker"].disposition is Disposition.NEW
    assert found["breaker"].why is not None
    assert found["breaker"].why.startswith("payment_arrears ends the cool-down (case ")


def test_bad_cool_down_settings_are_refused_with_a_reason() -> None:
    with pytest.raises(ValidationError, match="no cool-down follows deleted"):
        DetectionConfig.model_validate({"cool_down_by_outcome": {"deleted": "P30D"}})
    with pytest.raises(ValidationError, match="cannot be negative"):
        DetectionConfig(cool_down=timedelta(days=-1))
    with pytest.raises(ValidationError):
        DetectionConfig(cool_down_worse_factor=1.0)


def test_the_cool_down_is_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSEOUT_DETECTION__COOL_DOWN", "P30D")
    monkeypatch.setenv("CLOSEOUT_DETECTION__COOL_DOWN_BY_OUTCOME", '{"rejected": "P7D"}')
    detection = Settings(dev_mode=True).detection
    assert detection.cool_down == timedelta(days=30)
    assert detection.cool_down_after(Outcome.REJECTED) == timedelta(days=7)
    assert detection.cool_down_after(Outcome.CANCELLED) == timedelta(days=30)
