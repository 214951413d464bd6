"""Starting a customer's case workflow, or adding evidence to the open one: one place for
the API, webhooks and detection."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from closeout.constants import TASK_QUEUE, case_workflow_id
from closeout.contracts import CaseStatus, CloseCustomerInput, EvidenceRequest
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


# How long opening a case waits for the worker to record it before answering without it.
OPENED_WITHIN = timedelta(seconds=10)


async def open_case(
    client: Client, case: CloseCustomerInput, task_queue: str = TASK_QUEUE
) -> CaseStatus | str | None:
    """Start the case and ask it, in the same call (Update-with-Start), for the case as the
    read model now holds it; the case id of the run already open, if one is; None when the
    case started but no worker recorded it within OPENED_WITHIN (it will when one runs)."""
    start = WithStartWorkflowOperation(
        CloseCustomerWorkflow.run,
        case,
        id=case_workflow_id(case.customer_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    try:
        return await client.execute_update_with_start_workflow(
            CloseCustomerWorkflow.opened, start_workflow_operation=start, rpc_timeout=OPENED_WITHIN
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return None
    except (WorkflowAlreadyStartedError, RPCError) as exc:
        # A server that leaves out the details says ALREADY_EXISTS without the typed error.
        if isinstance(exc, RPCError) and exc.status is not RPCStatusCode.ALREADY_EXISTS:
            # A server may answer a call that ran out of time with an unknown error: whether
            # the case started is then read from its history.
            if await _started(client, case):
                return None
            raise
        with contextlib.suppress(WorkflowAlreadyStartedError, RPCError):
            await start.workflow_handle()  # the start's own outcome, taken so none is left
        running = await client.get_workflow_handle_for(
            CloseCustomerWorkflow.run, case_workflow_id(case.customer_id)
        ).query(CloseCustomerWorkflow.status)
        return running.case_id


async def _started(client: Client, case: CloseCustomerInput) -> bool:
    """True when the customer's latest run is this case's."""
    handle = client.get_workflow_handle(case_workflow_id(case.customer_id))
    try:
        async for event in handle.fetch_history_events():
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            started = await client.data_converter.decode(payloads, [CloseCustomerInput])
            return bool(started) and started[0].case_id == case.case_id
    except RPCError:  # no run at all
        return False
    return False


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
