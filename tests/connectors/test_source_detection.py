"""Detection over a company's own CRM (closeout/connectors/sql_detection.py): the rules the Odoo
mapping can answer, run on its tables on SQLite and PostgreSQL, flag the same customers with the
same evidence the reference CRM's rules would, and the scan's precedence and dispositions hold."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, update

from closeout.cases.repository import case_repository
from closeout.connectors.sql_detection import SqlDetectionInputs
from closeout.contracts import AuditEntry, CaseOpened, CloseCustomerInput
from closeout.db import Database
from closeout.detection.config import DetectionConfig
from closeout.detection.detector import Detector, Disposition
from closeout.domain import ChurnClass, Trigger
from closeout.settings import Settings
from tests.connectors.odoo import (
    ACCOUNT_MOVE,
    RES_PARTNER,
    SALE_ORDER,
    add_odoo_customer,
    odoo_database,
)
from tests.connectors.test_source_contract import _partner_id, odoo_source

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CONFIG = DetectionConfig(
    inactivity_days=365, arrears_min_invoices=3, arrears_min_amount_cents=50_000
)


def _change(url: str, *statements: object) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[call-overload]
    engine.dispose()


def _paid_up(url: str, customer_id: str) -> None:
    partner = _partner_id(url, customer_id)
    _change(
        url,
        update(ACCOUNT_MOVE)
        .where(ACCOUNT_MOVE.c.partner_id == partner)
        .values(amount_residual=Decimal("0"), payment_state="paid"),
    )


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_odoos_partners_are_flagged_by_the_rules_its_tables_answer(
    request: pytest.FixtureRequest,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    kind: str,
) -> None:
    with odoo_database(request, kind, tmp_path) as url:
        kinds = ("arrears", "quiet", "buying", "unreachable", "closing", "deleted", "has_case")
        ids = {k: f"cust-{k}-{uuid.uuid4().hex[:6]}" for k in kinds}
        for customer_id in ids.values():
            add_odoo_customer(url, customer_id)
        for k in ("quiet", "buying", "closing", "deleted", "has_case"):
            _paid_up(url, ids[k])  # the seeded second invoice is owed since April 2024
        _change(
            url,
            insert(SALE_ORDER).values(
                name="S00099",
                partner_id=_partner_id(url, ids["buying"]),
                state="sale",
                date_order=(NOW - timedelta(days=5)).replace(tzinfo=None),
                amount_total=Decimal("10.00"),
            ),
            update(RES_PARTNER)
            .where(RES_PARTNER.c.ref == ids["unreachable"])
            .values(email=None, phone=None),
            update(RES_PARTNER)
            .where(RES_PARTNER.c.ref == ids["closing"])
            .values(x_closeout_status="closing"),
        )
        source = odoo_source(settings, url)
        source.system.ledger.suppress(ids["deleted"], str(uuid.uuid4()), NOW)
        case_id = str(uuid.uuid4())
        case_repository(settings, db).record_case_opened(
            CaseOpened(
                CloseCustomerInput(
                    case_id, ids["has_case"], Trigger.INACTIVITY, ChurnClass.NATURAL, "standard",
                    "system", {"inactive_days": 400},
                ),
                f"close-customer-{ids['has_case']}",
                "run-1",
                AuditEntry(str(uuid.uuid4()), "system", "case_opened", NOW),
            ),
            owner="li.na@example.com",
            value_tier="standard",
        )  # fmt: skip
        inputs = SqlDetectionInputs(source)
        assert [r.name for r in inputs.rules] == ["no_contact", "payment_arrears", "inactivity"]
        scan = Detector(db, CONFIG, inputs).scan(NOW)

    found = {c.customer_id: c for c in scan.candidates}
    assert set(found) == {ids[k] for k in ("arrears", "quiet", "unreachable", "has_case")}
    arrears = found[ids["arrears"]]
    # The reference rule's evidence: which invoices, how much, for how long.
    assert arrears.trigger is Trigger.PAYMENT_ARREARS
    assert arrears.evidence == {
        "invoice_ids": ["INV/2024/00002"],
        "overdue_amount_cents": 74_995,
        "days_overdue": (NOW.date() - datetime(2024, 4, 2).date()).days,
        "default_count": 1,
    }
    assert arrears.also == (Trigger.INACTIVITY,)  # quiet since March 2024 too
    quiet = found[ids["quiet"]]
    assert quiet.trigger is Trigger.INACTIVITY and quiet.disposition is Disposition.NEW
    assert quiet.evidence["last_order_date"] == "2024-03-01"
    assert quiet.evidence["inactive_days"] == (NOW.date() - datetime(2024, 3, 1).date()).days
    unreachable = found[ids["unreachable"]]
    assert unreachable.trigger is Trigger.DATA_QUALITY
    assert unreachable.evidence == {"problem": "no_contact"}
    has_case = found[ids["has_case"]]
    assert has_case.disposition is Disposition.OPEN_CASE and has_case.case_id == case_id
    assert set(scan.seconds) >= {"no_contact", "payment_arrears", "inactivity"}
