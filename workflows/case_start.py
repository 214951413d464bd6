"""Starting a customer's case workflow, or adding evidence to the open one: one place for
the API, webhooks and detection."""

from __future__ import annotations

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from closeout.constants import TASK_QUEUE, case_workflow_id
from closeout.contracts import CloseCustomerInput, EvidenceRequest
from workflows.close_customer import CloseCustomerWorkflow


async def start_case(
    client: Client, case: CloseCustomerInput, task_queue: str = TASK_QUEUE
) -> str | None:
    """Start the case; None when it started, else the case id of the run already open."""
    workflow_id = case_workflow_id(case.customer_id)
    try:
        await client.start_workflow(
            CloseCustomerWorkflow.run,
            case,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        running = await client.get_workflow_handle_for(
            CloseCustomerWorkflow.run, workflow_id
        ).query(CloseCustomerWorkflow.status)
        return running.case_id
    return None


async def add_evidence(client: Client, customer_id: str, request: EvidenceRequest) -> str:
    """Tell the customer's open case of a further trigger: `evidence_added`, `evidence_known`
    (the case has it already) or `case_closed` (it ended meanwhile)."""
    handle = client.get_workflow_handle(case_workflow_id(customer_id))
    try:
        await handle.execute_update(CloseCustomerWorkflow.add_evidence, request)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "EvidenceKnown":
            return "evidence_known"
        if isinstance(cause, ApplicationError) and cause.type == "WrongStage":
            return "case_closed"
        raise
    except RPCError:
        return "case_closed"
    return "evidence_added"
