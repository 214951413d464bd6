"""Opening a case answers at once: the start and the question "is it recorded?" go in one call
(Update-with-Start), and the answer is the case the read model already holds; with no worker
the case is started all the same and the answer comes without it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus

from closeout.constants import case_workflow_id
from closeout.contracts import CaseStatus, CloseCustomerInput
from closeout.domain import ChurnClass, Stage, Trigger
from tests.workflows.conftest import OWNER, Harness
from workflows import case_start
from workflows.case_start import open_case


def _case(customer_id: str) -> CloseCustomerInput:
    return CloseCustomerInput(
        str(uuid.uuid4()), customer_id, Trigger.MANUAL, ChurnClass.FAULT,
        "standard", OWNER, {"note": "asked by phone"},
    )  # fmt: skip


async def test_opening_a_case_answers_with_the_recorded_case(harness: Harness) -> None:
    customer = harness.add_customer()
    case = _case(customer)
    opened = await open_case(harness.client, case, harness.task_queue)
    assert isinstance(opened, CaseStatus)
    assert opened.case_id == case.case_id and opened.stage in (Stage.OPENED, Stage.WIN_BACK)
    # No polling: the read model has the case when the call returns.
    record = harness.cases.get_case(case.case_id)
    assert record is not None and record.customer_id == customer

    # A second opening for the same customer names the case already open.
    again = await open_case(harness.client, _case(customer), harness.task_queue)
    assert again == case.case_id
    assert harness.cases.get_case(case.case_id) is not None


async def test_with_no_worker_the_case_opens_and_is_recorded_later(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(case_start, "OPENED_WITHIN", timedelta(seconds=1))
    customer = harness.add_customer()
    case = _case(customer)
    assert await open_case(harness.client, case, "no-worker-listens-here") is None
    handle = harness.client.get_workflow_handle(case_workflow_id(customer))
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    assert harness.cases.get_case(case.case_id) is None  # nothing recorded it yet
    await handle.terminate("the test is over")


async def test_whether_a_case_started_is_read_from_its_history(harness: Harness) -> None:
    """What opening a case falls back on when the server answers with an unknown error."""
    customer = harness.add_customer()
    case = _case(customer)
    assert not await case_start._started(harness.client, case)  # no run at all
    assert await case_start.start_case(harness.client, case, "no-worker-listens-here") is None
    assert await case_start._started(harness.client, case)
    assert not await case_start._started(harness.client, _case(customer))  # another case
    await harness.client.get_workflow_handle(case_workflow_id(customer)).terminate("done")
