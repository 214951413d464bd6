"""Only Closeout speaks to its workflows: a client without the master keys is not heard."""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution
from temporalio.api.enums.v1 import EventType, UpdateWorkflowExecutionLifecycleStage
from temporalio.api.update.v1 import Input as UpdateInput
from temporalio.api.update.v1 import Meta as UpdateMeta
from temporalio.api.update.v1 import Request as UpdateRequest
from temporalio.api.update.v1 import WaitPolicy
from temporalio.api.workflowservice.v1 import UpdateWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.converter import WorkflowSerializationContext
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from closeout.constants import case_workflow_id
from closeout.contracts import Actor, CancelRequest, CloseCustomerInput
from closeout.db import Database
from closeout.demo import SHAPES, add_customer
from closeout.domain import DEFAULT_CHURN_CLASS, Role, Stage, TaskKind, Trigger
from closeout.settings import Settings
from closeout.temporal import DATA_CONVERTER, data_converter
from tests.conftest import make_settings
from tests.support import VENV_BIN, MailSink, eventually, read_model
from tests.workflows.conftest import OWNER, OWNER_ACTOR
from worker import build_activities, build_worker
from workflows.close_customer import CloseCustomerWorkflow

Handle = WorkflowHandle[CloseCustomerWorkflow, object]
COMPLETED = (
    UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
)


@pytest.fixture
async def server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
    )
    yield env
    await env.shutdown()


@pytest.fixture
def production(tmp_path: Path, sqlite_url: str, mail: MailSink) -> Settings:
    return make_settings(
        tmp_path,
        sqlite_url,
        mail,
        dev_mode=False,
        secret_key=secrets.token_urlsafe(48),
        master_keys={"k1": base64.b64encode(os.urandom(32)).decode()},
    )


def _customer(db: Database) -> str:
    customer_id = f"cust-{uuid.uuid4().hex[:10]}"
    with db.session() as session:
        add_customer(
            session,
            customer_id,
            name=f"Customer {customer_id}",
            owner=OWNER,
            shape=SHAPES[Trigger.INACTIVITY],
        )
    return customer_id


def _case(customer_id: str) -> CloseCustomerInput:
    return CloseCustomerInput(
        case_id=str(uuid.uuid4()),
        customer_id=customer_id,
        trigger=Trigger.INACTIVITY,
        churn_class=DEFAULT_CHURN_CLASS[Trigger.INACTIVITY],
        policy="standard",
        opened_by=OWNER,
        evidence={"inactive_days": 400},
    )


def _clients(server: WorkflowEnvironment, settings: Settings) -> tuple[Client, Client]:
    """Closeout's client (the master keys' codec), and an outsider's on the same server."""
    service = server.client.service_client
    return (
        Client(service, namespace="default", data_converter=data_converter(settings)),
        Client(service, namespace="default", data_converter=DATA_CONVERTER),
    )


@pytest.fixture
async def running(
    server: WorkflowEnvironment, production: Settings, db: Database
) -> AsyncIterator[tuple[Client, Client, str]]:
    """Closeout's client, an outsider's, and the task queue of a worker outside dev mode."""
    closeout, outsider = _clients(server, production)
    task_queue = f"test-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        activities = build_activities(production, db, closeout)
        async with build_worker(closeout, activities, executor, task_queue):
            yield closeout, outsider, task_queue


async def _events(handle: WorkflowHandle[Any, Any]) -> list[str]:
    return [EventType.Name(e.event_type) async for e in handle.fetch_history_events()]


async def test_an_outsiders_update_is_rejected_and_changes_nothing(
    running: tuple[Client, Client, str], db: Database
) -> None:
    closeout, outsider, task_queue = running
    customer = _customer(db)
    handle: Handle = await closeout.start_workflow(
        CloseCustomerWorkflow.run,
        _case(customer),
        id=case_workflow_id(customer),
        task_queue=task_queue,
    )
    await eventually(lambda: _pending_win_back(handle), what="the win-back task")
    forged = outsider.get_workflow_handle_for(CloseCustomerWorkflow.run, handle.id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await forged.execute_update(
            CloseCustomerWorkflow.cancel, CancelRequest("forged", OWNER_ACTOR)
        )
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PlainPayloadRefused"
    status = await handle.query(CloseCustomerWorkflow.status)
    assert status.stage is Stage.WIN_BACK and status.outcome is None
    assert "EVENT_TYPE_WORKFLOW_TASK_FAILED" not in await _events(handle)
    # Closeout's own client, with the codec, is heard; its rejections read as the API
    # maps them to statuses (type and message), though the history holds them encrypted.
    with pytest.raises(WorkflowUpdateFailedError) as invalid:
        await handle.execute_update(CloseCustomerWorkflow.cancel, CancelRequest(" ", OWNER_ACTOR))
    rejection = invalid.value.cause
    assert isinstance(rejection, ApplicationError)
    assert (rejection.type, rejection.message) == (
        "InvalidRequest",
        "a reason is required to cancel",
    )
    result = await handle.execute_update(
        CloseCustomerWorkflow.cancel, CancelRequest("paid up", OWNER_ACTOR)
    )
    assert result.outcome is not None


async def test_an_outsiders_start_fails_at_once_and_runs_nothing(
    running: tuple[Client, Client, str], db: Database
) -> None:
    closeout, outsider, task_queue = running
    customer = _customer(db)
    forged = await outsider.start_workflow(
        CloseCustomerWorkflow.run,
        _case(customer),
        id=case_workflow_id(customer),
        task_queue=task_queue,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await closeout.get_workflow_handle(forged.id).result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PlainPayloadRefused"
    events = await _events(forged)
    assert not [e for e in events if "ACTIVITY" in e], events
    assert "EVENT_TYPE_WORKFLOW_TASK_FAILED" not in events
    assert not read_model(db).cases_for_customer(customer)
    # The business key is free again for a real case.
    real = await closeout.start_workflow(
        CloseCustomerWorkflow.run,
        _case(customer),
        id=case_workflow_id(customer),
        task_queue=task_queue,
    )
    await eventually(lambda: _pending_win_back(real), what="the real case's task")


async def _pending_win_back(handle: Handle) -> bool:
    status = await handle.query(CloseCustomerWorkflow.status)
    return any(t.kind is TaskKind.WIN_BACK for t in status.pending_tasks)


async def _send_raw_update(client: Client, workflow_id: str, name: str, payload: Payload) -> Any:
    """An Update as someone who reaches the server sends it: payloads as they are, unread."""
    response = await client.workflow_service.update_workflow_execution(
        UpdateWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            request=UpdateRequest(
                meta=UpdateMeta(update_id=str(uuid.uuid4()), identity="outsider"),
                input=UpdateInput(name=name, args=Payloads(payloads=[payload])),
            ),
            wait_policy=WaitPolicy(lifecycle_stage=COMPLETED),
        )
    )
    assert response.outcome.HasField("failure"), "the copied request was accepted"
    return await client.data_converter.decode_failure(response.outcome.failure)


async def test_a_request_copied_into_another_case_is_refused(
    running: tuple[Client, Client, str], db: Database
) -> None:
    """A sealed request copied out of one customer's history into another's case opens
    nowhere but where it was sealed; a request naming another case is refused; neither fails
    a workflow task."""
    closeout, _outsider, task_queue = running
    a_case, b_case = _case(_customer(db)), _case(_customer(db))
    handles: list[Handle] = []
    for case in (a_case, b_case):
        handles.append(
            await closeout.start_workflow(
                CloseCustomerWorkflow.run,
                case,
                id=case_workflow_id(case.customer_id),
                task_queue=task_queue,
            )
        )
    a, b = handles
    await eventually(lambda: _pending_win_back(b), what="the win-back task")
    # What A's history would hold: a manager's cancel, sealed under A's history key.
    sealed_for_a = closeout.data_converter.with_context(
        WorkflowSerializationContext(closeout.namespace, a.id)
    )
    cancel = CancelRequest("paid", Actor("grace@example.com", Role.MANAGER))
    (copied,) = await sealed_for_a.encode([cancel])
    refusal = await _send_raw_update(closeout, b.id, "cancel", copied)
    assert isinstance(refusal, ApplicationError) and refusal.type == "PlainPayloadRefused"
    damaged = Payload()
    damaged.CopyFrom(copied)
    damaged.metadata["customer-id"] = b_case.customer_id.encode()
    refusal = await _send_raw_update(closeout, b.id, "cancel", damaged)
    assert isinstance(refusal, ApplicationError) and refusal.type == "PlainPayloadRefused"
    # Sealed for B but naming A's case.
    with pytest.raises(WorkflowUpdateFailedError) as elsewhere:
        await b.execute_update(
            CloseCustomerWorkflow.cancel,
            CancelRequest("paid", OWNER_ACTOR, case_id=a_case.case_id),
        )
    assert getattr(elsewhere.value.cause, "type", "") == "Forbidden"
    status = await b.query(CloseCustomerWorkflow.status)
    assert status.outcome is None and status.stage is Stage.WIN_BACK
    assert "EVENT_TYPE_WORKFLOW_TASK_FAILED" not in await _events(b)
    # The real request, naming its own case, is heard.
    done = await b.execute_update(
        CloseCustomerWorkflow.cancel,
        CancelRequest("paid", OWNER_ACTOR, case_id=b_case.case_id),
    )
    assert done.outcome is not None
    await a.terminate("test over")
