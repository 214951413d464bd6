"""Starting a customer's case workflow: one place for the API, webhooks and detection."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from closeout.constants import TASK_QUEUE, case_workflow_id
from closeout.contracts import CloseCustomerInput
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
