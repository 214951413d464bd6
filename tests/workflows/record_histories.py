"""Record histories for the replay tests:
`python -m tests.workflows.record_histories SUFFIX [SCENARIO ...]`.

Histories are never re-recorded over old ones: a workflow change adds a new set (SUFFIX names
it, e.g. the patch it introduces) and every older set must keep replaying.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from closeout.contracts import (
    Actor,
    AssignRequest,
    CancelRequest,
    CustomerAnswer,
    HoldReleaseRequest,
    HoldRequest,
    ReactivateRequest,
)
from closeout.db import Database, upgrade
from closeout.domain import (
    Assignment,
    CustomerResponse,
    Stage,
    TaskDecision,
    TaskKind,
    ValueTier,
)
from closeout.temporal import DATA_CONVERTER
from tests.conftest import make_settings
from tests.support import VENV_BIN, Refusing, free_port, read_model, start_mail_sink
from tests.workflows.conftest import COMPLIANCE, MANAGER_ACTOR, OTHER_AM, OWNER_ACTOR, Harness
from worker import build_activities, build_worker
from workflows.close_customer import CloseCustomerWorkflow

HISTORIES = Path(__file__).parent / "histories"
Handle = WorkflowHandle[CloseCustomerWorkflow, object]


async def deleted_with_hold(h: Harness, handle: Handle) -> None:
    await h.approve_closure(handle)
    await h.stage(handle, Stage.RETENTION)
    placed = await handle.execute_update(
        CloseCustomerWorkflow.place_legal_hold, HoldRequest("audit", COMPLIANCE)
    )
    assert placed.hold_id
    await handle.execute_update(
        CloseCustomerWorkflow.release_legal_hold,
        HoldReleaseRequest(placed.hold_id, "done", COMPLIANCE),
    )


async def four_eyes_then_cancelled(h: Harness, handle: Handle) -> None:
    await h.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    await h.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE)
    await h.decide(handle, TaskKind.SECOND_APPROVAL, TaskDecision.APPROVE, actor=MANAGER_ACTOR)
    await h.stage(handle, Stage.AWAITING_EFFECTIVE_DATE)
    await handle.execute_update(
        CloseCustomerWorkflow.cancel, CancelRequest("customer paid", OWNER_ACTOR)
    )


async def reactivated(h: Harness, handle: Handle) -> None:
    await h.approve_closure(handle)
    await h.stage(handle, Stage.RETENTION)
    await handle.execute_update(
        CloseCustomerWorkflow.reactivate, ReactivateRequest("came back", OWNER_ACTOR)
    )


async def refused_notice_reviewed(h: Harness, handle: Handle) -> None:
    # The harness's mail server refuses the first notice (see `main`), then accepts again.
    review = await h.task(handle, TaskKind.CONTACT_REVIEW)
    assert review
    h.settings.smtp_port = h.mail.port
    await h.decide(handle, TaskKind.CONTACT_REVIEW, TaskDecision.REJECT, comment="keep them")


async def data_export_then_cancelled(h: Harness, handle: Handle) -> None:
    await h.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    await h.task(handle, TaskKind.APPROVAL)
    await handle.execute_update(
        CloseCustomerWorkflow.respond,
        CustomerAnswer(
            CustomerResponse.DOWNLOAD_DATA, Actor("customer", "customer"), link_id="n.x"
        ),
    )
    await handle.execute_update(CloseCustomerWorkflow.cancel, CancelRequest("paid", OWNER_ACTOR))


async def escalated_after_claims(h: Harness, handle: Handle) -> None:
    await h.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    approval = await h.task(handle, TaskKind.APPROVAL)
    for action, actor in ((Assignment.UNCLAIM, OWNER_ACTOR), (Assignment.CLAIM, OTHER_AM)):
        await handle.execute_update(
            CloseCustomerWorkflow.assign, AssignRequest(approval.task_id, action, actor)
        )
    # Reminded a day before the due date, escalated after it; a manager approves.
    await h.env.sleep(timedelta(days=8))
    await h.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE, actor=MANAGER_ACTOR)
    await h.stage(handle, Stage.AWAITING_EFFECTIVE_DATE)
    await handle.execute_update(CloseCustomerWorkflow.cancel, CancelRequest("paid", OWNER_ACTOR))


async def deleted_with_confirmation(h: Harness, handle: Handle) -> None:
    await h.approve_closure(handle)


async def deleted_by_category(h: Harness, handle: Handle) -> None:
    """Contact data goes after 90 days (the customer is told), a hold comes and goes, the
    other categories follow, each on its own date."""
    await h.approve_closure(handle)
    await h.stage(handle, Stage.RETENTION)
    await h.env.sleep(timedelta(days=91))
    placed = await handle.execute_update(
        CloseCustomerWorkflow.place_legal_hold, HoldRequest("audit", COMPLIANCE)
    )
    assert placed.hold_id
    await h.env.sleep(timedelta(days=400))
    await handle.execute_update(
        CloseCustomerWorkflow.release_legal_hold,
        HoldReleaseRequest(placed.hold_id, "done", COMPLIANCE),
    )


SCENARIOS: dict[str, tuple[ValueTier, Callable[[Harness, Handle], Awaitable[None]]]] = {
    "deleted_with_hold": (ValueTier.STANDARD, deleted_with_hold),
    "four_eyes_then_cancelled": (ValueTier.HIGH, four_eyes_then_cancelled),
    "reactivated": (ValueTier.STANDARD, reactivated),
    "refused_notice_reviewed": (ValueTier.STANDARD, refused_notice_reviewed),
    "data_export_then_cancelled": (ValueTier.STANDARD, data_export_then_cancelled),
    "escalated_after_claims": (ValueTier.STANDARD, escalated_after_claims),
    "deleted_with_confirmation": (ValueTier.STANDARD, deleted_with_confirmation),
    "deleted_by_category": (ValueTier.STANDARD, deleted_by_category),
}
# Scenarios run under another policy than the standard one.
POLICIES = {"deleted_with_confirmation": "confirming", "deleted_by_category": "by-category"}


async def record_runs(h: Harness, handle: Handle, stem: str) -> None:
    """Every run of the case, the first as STEM.json and each one it continued as new into
    (retention, renewed every year) as STEM.runN.json."""
    run_id = handle.first_execution_run_id
    number = 1
    while run_id:
        history = await h.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        name = f"{stem}.json" if number == 1 else f"{stem}.run{number}.json"
        (HISTORIES / name).write_text(history.to_json())
        print(f"recorded {name}: {len(history.events)} events")
        last = history.events[-1]
        continued = last.HasField("workflow_execution_continued_as_new_event_attributes")
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if continued
            else None
        )
        number += 1


async def main(suffix: str, only: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root}/closeout.db"
        upgrade(url)
        sink, controller = start_mail_sink()
        refusing = Refusing(free_port())
        refusing_controller = Controller(refusing, hostname="127.0.0.1", port=refusing.port)
        refusing_controller.start()
        settings = make_settings(root, url, sink)
        db = Database.from_url(url)
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=DATA_CONVERTER,
            test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
        )
        try:
            with ThreadPoolExecutor(max_workers=32) as executor:
                queue = f"record-{uuid.uuid4()}"
                async with build_worker(
                    env.client, build_activities(settings, db), executor, queue
                ):
                    h = Harness(
                        env, env.client, db, sink, settings, queue, read_model(db, settings)
                    )
                    for name, (tier, drive) in SCENARIOS.items():
                        if only and name not in only:
                            continue
                        h.settings.smtp_port = (
                            refusing.port if name == "refused_notice_reviewed" else sink.port
                        )
                        handle = await h.start(
                            h.add_customer(tier=tier), policy=POLICIES.get(name, "standard")
                        )
                        await drive(h, handle)
                        await handle.result()
                        await record_runs(h, handle, f"{name}{suffix}")
        finally:
            await env.shutdown()
            controller.stop()
            refusing_controller.stop()


if __name__ == "__main__":
    import sys

    asyncio.run(main(f"-{sys.argv[1]}" if len(sys.argv) > 1 else "", sys.argv[2:]))
