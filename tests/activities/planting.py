"""A customer's words put in every column that can hold them, through the paths that write them
in real cases (closeout/cases/erasure.py lists the columns)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from closeout.contracts import CloseTask, EvidenceAdded, HoldPlaced, HoldReleased, OpenTask
from closeout.detection.detector import Candidate, Scan
from closeout.detection.repository import DetectionRepository
from closeout.domain import ChurnClass, TaskDecision, TaskKind, TaskStatus, Trigger
from closeout.inbound.receiving import inbound_from
from tests.activities.conftest import World, audit

DAYS_30 = timedelta(days=30)


def plant_words(world: World, customer: str, case_id: str, words: str) -> None:
    """The customer's words in every listed column, as real cases put them there."""
    cases = world.activities.cases
    now = datetime.now(UTC)
    task_id = str(uuid.uuid4())
    cases.open_task(
        OpenTask(
            task_id, case_id, customer, TaskKind.OBJECTION_REVIEW, "li.na@example.com",
            now + timedelta(days=7), audit("task_opened"), note=f"customer object: {words}",
        )
    )  # fmt: skip
    hold_id = str(uuid.uuid4())
    cases.record_hold_placed(
        HoldPlaced(
            hold_id, case_id, f"dispute with {words}", f"{words} v. Company",
            "kim.compliance@example.com", audit("legal_hold_placed"),
        )
    )  # fmt: skip
    cases.record_hold_released(
        HoldReleased(
            hold_id, "kim.compliance@example.com", f"settled with {words}",
            audit("legal_hold_released"),
        )
    )  # fmt: skip
    notice_id = str(uuid.uuid4())
    cases.prepare_notice(notice_id, case_id, "closed", f"<{notice_id}@closeout>")
    cases.mark_notice(notice_id, "sent", f"{words}@example.org", audit("notice_sent"))
    cases.close_task(
        CloseTask(
            task_id, TaskStatus.DONE, audit("task_completed"), TaskDecision.REJECT,
            f"called {words}, no way back", "li.na@example.com",
        )
    )  # fmt: skip
    cases.add_evidence(
        EvidenceAdded(
            case_id, Trigger.CUSTOMER_REQUEST,
            {"request_text": f"I am {words}, delete me", "days": 3}, audit("evidence_added"),
        )
    )  # fmt: skip
    detection = DetectionRepository(world.db, cases.sealed)
    candidate = Candidate(
        customer, Trigger.MANUAL, ChurnClass.NATURAL, {"note": f"{words} complained", "n": 4}
    )
    detection.record_scan(str(uuid.uuid4()), Scan(now, [candidate]))
    detection.exclude(customer, f"{words} is renegotiating", "li.na@example.com", now + DAYS_30)
    # A reply the customer wrote, with a file, received as the inbound endpoint receives it.
    replies = world.settings.model_copy(update={"inbound_domain": "replies.example.com"})
    inbound = inbound_from(replies, world.db)
    reply = EmailMessage()
    reply["From"] = f"{words} <customer@example.org>"
    reply["Subject"] = f"Re: {words}'s account"
    reply["Message-ID"] = f"<{uuid.uuid4()}@example.org>"
    reply.set_content(f"This is {words}: keep my account.")
    reply.add_attachment(f"Letter from {words}".encode(), maintype="text", subtype="plain",
                         filename=f"{words}.txt")  # fmt: skip
    received = inbound.receive(reply.as_bytes(), [inbound.replies.address_for(case_id)], now)
    assert received.outcome == "accepted", received
    # A webhook's delivery, kept as the endpoint keeps it.
    detection.record_delivery(
        f"crm-{case_id}", "d" * 64, 200, {"action": "evidence_added", "case_id": case_id}
    )
