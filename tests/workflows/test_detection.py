"""The detection workflow on the time-skipping server: it opens the cases the scan previews."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from closeout.constants import case_workflow_id
from closeout.contracts import DetectionInput, DetectionSummary
from closeout.detection.detector import Detector, Disposition
from closeout.detection.repository import detection_repository
from closeout.domain import Trigger
from tests.support import eventually
from tests.workflows.conftest import Harness
from workflows.detection import DetectionWorkflow


async def _detect(h: Harness, **options: int) -> DetectionSummary:
    return await h.client.execute_workflow(
        DetectionWorkflow.run,
        DetectionInput(**options),
        id=f"detection-{uuid.uuid4()}",
        task_queue=h.task_queue,
    )


async def test_detection_opens_what_the_dry_run_previews(harness: Harness) -> None:
    arrears = [harness.add_customer(trigger=Trigger.PAYMENT_ARREARS) for _ in range(5)]
    inactive = harness.add_customer(trigger=Trigger.INACTIVITY)
    healthy = harness.add_customer()
    excluded = harness.add_customer(trigger=Trigger.PAYMENT_ARREARS)
    runs = detection_repository(harness.settings, harness.db)
    runs.exclude(
        excluded, "renegotiating", "li.na@example.com", datetime.now(UTC) + timedelta(days=30)
    )
    already = harness.add_customer(trigger=Trigger.PAYMENT_ARREARS)
    open_case = await harness.start(already, trigger=Trigger.MANUAL)

    async def recorded() -> object:
        return harness.cases.open_case_for(already)

    await eventually(recorded, what="the open case in the read model")
    preview = Detector(harness.db, harness.settings.detection).scan(datetime.now(UTC))
    new = {c.customer_id for c in preview.of(Disposition.NEW)}
    assert new >= {*arrears, inactive} and healthy not in new and excluded not in new

    # Pages of two, two pages per run: the run continues as new along the way.
    summary = await _detect(harness, page_size=2, pages_per_run=2)
    assert summary.started == len(new), "the dry run's count is the real run's starts"
    assert summary.evidence_added == 1
    for customer in (*arrears, inactive):

        async def opened(customer: str = customer) -> object:
            return harness.cases.open_case_for(customer)

        case = await eventually(opened, what=f"a case for {customer}")
        expected = Trigger.INACTIVITY if customer == inactive else Trigger.PAYMENT_ARREARS
        assert case.trigger == expected and case.opened_by == "detection"
    case_id = (await harness.status(open_case)).case_id
    assert "evidence_added" in harness.actions(case_id)
    record = harness.cases.get_case(case_id)
    assert record is not None and record.evidence["further"][0]["trigger"] == "payment_arrears"
    run = runs.get_run(summary.run_id)
    assert run is not None and run.finished_at is not None and run.started == summary.started
    assert run.counts["disposition"]["excluded"] == 1

    # The next day nothing new: every flagged customer has a case that already knows.
    again = await _detect(harness)
    assert (again.started, again.evidence_added) == (0, 0)
    assert again.skipped == again.flagged - 1  # all but the excluded one
    for customer in (*arrears, inactive, already):
        await harness.client.get_workflow_handle(case_workflow_id(customer)).terminate("done")
