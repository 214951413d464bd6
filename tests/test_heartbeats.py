"""The worker heartbeats a step that runs longer than its heartbeat timeout and never
heartbeats itself: the step completes on its first attempt, and a lost worker is still noticed
within the timeout (tests/faults kills workers inside verifications)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Interceptor, Worker

from closeout.heartbeats import HeartbeatWhileRunning
from tests.support import VENV_BIN


@activity.defn
def long_check(seconds: float) -> int:
    """A check that reads for longer than its heartbeat timeout, and says nothing meanwhile."""
    time.sleep(seconds)
    return activity.info().attempt


@workflow.defn(sandboxed=False)
class OneLongCheck:
    @workflow.run
    async def run(self, seconds: float) -> int:
        attempt: int = await workflow.execute_activity(
            long_check,
            seconds,
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return attempt


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(VENV_BIN / "temporal"),
        dev_server_extra_args=["--headless"],
    )
    yield env.client
    await env.shutdown()


async def _run(client: Client, interceptors: list[Interceptor]) -> int:
    queue = f"heartbeats-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[OneLongCheck],
            activities=[long_check],
            activity_executor=executor,
            interceptors=interceptors,
        ):
            result: int = await client.execute_workflow(
                OneLongCheck.run, 3.0, id=queue, task_queue=queue
            )
            return result


async def test_a_long_step_is_heartbeated_by_the_worker(client: Client) -> None:
    assert await _run(client, [HeartbeatWhileRunning()]) == 1


async def test_without_the_worker_s_heartbeats_it_times_out(client: Client) -> None:
    with pytest.raises(WorkflowFailureError) as failed:
        await _run(client, [])
    cause = failed.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, TimeoutError)
    assert cause.cause.type is TimeoutType.HEARTBEAT
