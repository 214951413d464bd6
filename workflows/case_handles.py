"""Reaching a case's workflow from outside: one place for the API and the CLI.

A case's workflow id stays the same for its whole life, but its run changes: the closing run
continues as new into RetentionWorkflow, which continues as new every year. So requests go to
the latest run of the chain the case started (its first run id, as the read model keeps it),
and the status is asked of the latest run and kept only if that run is still this case.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from closeout.contracts import CaseStatus
from workflows.close_customer import CloseCustomerWorkflow


def case_handle(client: Client, workflow_id: str, first_run_id: str) -> WorkflowHandle[Any, Any]:
    """The handle Updates are sent through: the latest run of the case's chain of runs, and
    refused by the server if a later case of the same customer has taken the workflow id."""
    return client.get_workflow_handle(workflow_id, first_execution_run_id=first_run_id)


async def case_status(
    client: Client, workflow_id: str, case_id: str, rpc_timeout: timedelta | None = None
) -> CaseStatus | None:
    """The process's own view of the case; None when the latest run is another case's."""
    status = await client.get_workflow_handle_for(CloseCustomerWorkflow.run, workflow_id).query(
        CloseCustomerWorkflow.status, rpc_timeout=rpc_timeout
    )
    return status if status.case_id == case_id else None


async def case_histories(
    client: Client, workflow_id: str, first_run_id: str
) -> list[WorkflowHistory]:
    """Every run of a case's chain, oldest first: the closing run, then each run of retention
    it continued as new into."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = first_run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
    return histories
