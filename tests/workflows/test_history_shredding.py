"""A deleted customer's case history becomes unreadable: its payloads were sealed under the
customer's own history key, which housekeeping destroys once the workflow has closed.

The case runs on the time-skipping server with the codec every Closeout process uses.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from closeout.contracts import CaseResult, PurgeRequest
from closeout.crypto.data_keys import HISTORY_SCOPE, DataKeys
from closeout.crypto.history_cipher import ENCODING, HistoryShredded
from closeout.crypto.vault import key_ring
from closeout.db import Database
from closeout.domain import Outcome, TaskDecision, TaskKind
from closeout.settings import Settings
from closeout.temporal import data_converter
from tests.support import VENV_BIN, MailSink, read_model
from tests.workflows.conftest import Harness
from worker import Activities, build_activities, build_worker
from workflows.close_customer import CloseCustomerWorkflow


@pytest.fixture
async def sealed(
    settings: Settings, db: Database, mail: MailSink
) -> AsyncIterator[tuple[Harness, Activities]]:
    """The harness on a server whose histories hold only what Closeout's codec sealed."""
    keys = DataKeys(db, key_ring(settings))
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(settings, keys),
        test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
    )
    task_queue = f"test-{uuid.uuid4()}"
    activities = build_activities(settings, db, env.client)
    with ThreadPoolExecutor(max_workers=16) as executor:
        async with build_worker(env.client, activities, executor, task_queue):
            yield (
                Harness(env, env.client, db, mail, settings, task_queue, read_model(db, settings)),
                activities,
            )
    await env.shutdown()


PLAIN_FIELDS = {"search_attributes", "marker_recorded_event_attributes"}


async def _payloads(handle: WorkflowHandle[CloseCustomerWorkflow, object]) -> list[Payload]:
    """Every payload the server keeps for the workflow, as stored (still sealed), but the
    search attributes and patch markers."""
    history = await handle.fetch_history()
    found: list[Payload] = []

    def walk(message: Message) -> None:
        if isinstance(message, Payload):
            found.append(message)
            return
        for descriptor, value in message.ListFields():
            # Search attributes stay plain for the server to index, and the SDK writes its
            # patch markers itself: patch names only.
            if descriptor.message_type is None or descriptor.name in PLAIN_FIELDS:
                continue
            if isinstance(value, Message):
                walk(value)
                continue
            for item in value.values() if hasattr(value, "values") else value:
                if isinstance(item, Message):
                    walk(item)

    for event in history.events:
        walk(event)
    return found


async def _decode(client: Client, payloads: list[Payload]) -> list[Payload]:
    codec = client.data_converter.payload_codec
    assert codec is not None
    return await codec.decode(payloads)


async def test_deleted_customers_history_cannot_be_opened(
    sealed: tuple[Harness, Activities],
) -> None:
    harness, activities = sealed
    words = f"Zelda Quux {uuid.uuid4().hex[:6]}"
    deleted_customer, kept_customer = harness.add_customer(), harness.add_customer()
    handle = await harness.start(deleted_customer)
    kept = await harness.start(kept_customer)
    await harness.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED, comment=f"{words} left")
    await harness.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE, comment=f"{words} ok")
    await harness.env.sleep(timedelta(days=31))
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.DELETED

    stored = await _payloads(handle)
    assert stored and all(p.metadata.get("encoding") == ENCODING for p in stored)
    assert not any(words.encode() in p.SerializeToString() for p in stored)
    opened = await _decode(harness.client, stored)
    assert any(words.encode() in p.data for p in opened), "readable until shredded"

    shred = ActivityEnvironment().run
    now = datetime.now(UTC)
    done = await shred(activities.housekeeping.shred_deleted_histories, PurgeRequest(now))
    again = await shred(activities.housekeeping.shred_deleted_histories, PurgeRequest(now))
    assert (done.histories_shredded, again.histories_shredded) == (1, 0)
    assert "case_history_shredded" in harness.actions(result.case_id)

    # A process that never had the key cached opens nothing of it, with every master key.
    fresh = data_converter(harness.settings, DataKeys(harness.db, key_ring(harness.settings)))
    assert fresh.payload_codec is not None
    with pytest.raises(HistoryShredded):
        await fresh.payload_codec.decode(stored[:1])
    # The customer still served keeps a readable history.
    assert await fresh.payload_codec.decode((await _payloads(kept))[:1])
    keys = DataKeys(harness.db, key_ring(harness.settings))
    assert keys.live(kept_customer, HISTORY_SCOPE) == 1
    assert keys.live(deleted_customer, HISTORY_SCOPE) == 0


async def test_a_running_case_keeps_its_history_key(sealed: tuple[Harness, Activities]) -> None:
    harness, activities = sealed
    customer = harness.add_customer()
    handle = await harness.start(customer)
    await harness.task(handle, TaskKind.WIN_BACK)
    # Named as deleted (a restored copy, say) while its workflow still runs: not shredded.
    activities.cases.ledger.suppress(customer, "case-x", datetime.now(UTC))
    shred = ActivityEnvironment().run
    done = await shred(
        activities.housekeeping.shred_deleted_histories, PurgeRequest(datetime.now(UTC))
    )
    assert done.histories_shredded == 0
    assert DataKeys(harness.db, key_ring(harness.settings)).live(customer, HISTORY_SCOPE) == 1
    await handle.terminate("test over")
