"""Failures reach the Temporal history encrypted: message and stack trace, not just payloads."""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from google.protobuf.json_format import MessageToJson
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from closeout.settings import Settings
from closeout.temporal import DATA_CONVERTER, data_converter
from tests.support import VENV_BIN

NAME, ADDRESS = "Mrs Wu Fang", "wu.fang@shop.example"
MESSAGE = f"could not reach {NAME} at {ADDRESS}"


@activity.defn
async def reach_customer(customer_id: str) -> None:
    # An activity that words its failure badly: the history must still not show it.
    raise ApplicationError(MESSAGE, {"customer": customer_id}, non_retryable=True)


@workflow.defn
class ReachCustomer:
    @workflow.run
    async def run(self, customer_id: str) -> None:
        await workflow.execute_activity(
            reach_customer,
            customer_id,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@pytest.fixture
async def server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
    )
    yield env
    await env.shutdown()


def _production() -> Settings:
    return Settings(
        secret_key=secrets.token_urlsafe(48),
        master_keys={"k1": base64.b64encode(os.urandom(32)).decode()},  # type: ignore[dict-item]
    )


async def test_a_failing_case_leaves_no_words_in_the_history(server: WorkflowEnvironment) -> None:
    service = server.client.service_client
    closeout = Client(service, namespace="default", data_converter=data_converter(_production()))
    raw = Client(service, namespace="default", data_converter=DATA_CONVERTER)
    task_queue = f"test-{uuid.uuid4()}"
    async with Worker(
        closeout,
        task_queue=task_queue,
        workflows=[ReachCustomer],
        activities=[reach_customer],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await closeout.start_workflow(
            ReachCustomer.run, "cust-0001", id=f"reach-{uuid.uuid4()}", task_queue=task_queue
        )
        # Closeout's client decodes the failure: the message is there for whoever holds the keys.
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError) and cause.message == MESSAGE
    assert cause.details == ({"customer": "cust-0001"},)

    events = list((await raw.get_workflow_handle(handle.id).fetch_history()).events)
    kinds = {EventType.Name(e.event_type) for e in events}
    assert {"EVENT_TYPE_ACTIVITY_TASK_FAILED", "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED"} <= kinds
    stored = " ".join(MessageToJson(e) for e in events)
    # Payload data is base64 in the JSON: look at it decoded too.
    decoded = " ".join(
        base64.b64decode(chunk).decode(errors="replace")
        for chunk in stored.split('"data": "')[1:]
        for chunk in [chunk.split('"', 1)[0]]
    )
    for words in (NAME, ADDRESS, MESSAGE, "could not reach", "cust-0001"):
        assert words not in stored and words not in decoded, words
    assert "Encoded failure" in stored
