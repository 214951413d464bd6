"""Reaching a case's workflow from outside: one place for the API and the CLI.

A case's workflow id stays the same for its whole life, but its run changes: the closing run
continues as new into RetentionWorkflow, which continues as new every year. So requests go to
the latest run of the chain the case started (its first run id, as the read model keeps it),
and the status is asked of the latest run and kept only if that run is still this case.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from closeout.access import Refusal
from closeout.contracts import Actor, CaseStatus, ReplyReceived
from closeout.domain import SYSTEM_ACTOR
from closeout.inbound.receiving import Handoff, Inbound, WaitingReply
from workflows.close_customer import CloseCustomerWorkflow

log = logging.getLogger("closeout.inbound")
# Who hands a reply to its case, as the audit trail names it.
INBOUND_ACTOR = Actor("inbound-mail", SYSTEM_ACTOR)


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


async def hand_over_reply(client: Client, reply: WaitingReply) -> Handoff:
    """Give one kept reply to its case (an Update, idempotent by the reply's id): `task` once
    the case opened the owner's task, `case_closed` if the case had ended, `pending` if it
    cannot take it now (Temporal unreachable, a worker without the handler): tried again."""
    handle = case_handle(client, reply.workflow_id, reply.first_run_id)
    try:
        await handle.execute_update(
            CloseCustomerWorkflow.reply,
            ReplyReceived(reply.inbound_id, reply.received_at, INBOUND_ACTOR, reply.case_id),
            id=f"reply-{reply.inbound_id}",
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if (
            isinstance(cause, ApplicationError)
            and cause.type == Refusal.WRONG_STAGE
            and cause.message == "the case is closed"
        ):
            return Handoff.CASE_CLOSED
        log.warning(
            "reply %s: case %s refused it for now: %s", reply.inbound_id, reply.case_id, cause
        )
        return Handoff.PENDING
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return Handoff.CASE_CLOSED  # the run has ended, or a later case has the id
        log.warning("reply %s: Temporal did not answer: %s", reply.inbound_id, exc.message)
        return Handoff.PENDING
    return Handoff.TASK


async def hand_over_replies(client: Client, inbound: Inbound) -> dict[str, Handoff]:
    """Every kept reply its case has not taken yet, handed over; what became of each."""
    outcomes: dict[str, Handoff] = {}
    for reply in await asyncio.to_thread(inbound.waiting):
        outcome = await hand_over_reply(client, reply)
        if outcome is not Handoff.PENDING:
            await asyncio.to_thread(inbound.handed, reply.inbound_id, outcome, datetime.now(UTC))
        outcomes[reply.inbound_id] = outcome
    return outcomes
