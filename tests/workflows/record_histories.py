"""Record histories for the replay tests:
`python -m tests.workflows.record_histories SUFFIX [SCENARIO ...]`.

Histories are never re-recorded over old ones: a workflow change adds a new set (SUFFIX names
it, e.g. the patch it introduces) and every older set must keep replaying.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from temporalio.client import WorkflowHandle

from closeout.contracts import (
    Actor,
    AssignRequest,
    CancelRequest,
    CustomerAnswer,
    DecisionRequest,
    HoldReleaseRequest,
    HoldRequest,
    ReactivateRequest,
    RequestExtension,
)
from closeout.domain import (
    Assignment,
    CustomerResponse,
    Stage,
    TaskDecision,
    TaskKind,
    Trigger,
    ValueTier,
)
from tests.support import Refusing, free_port
from tests.workflows.conftest import (
    COMPLIANCE,
    MANAGER_ACTOR,
    OTHER_AM,
    OWNER_ACTOR,
    Harness,
    receive_reply,
    reply_inbound,
)
from tests.workflows.standalone import standalone_harness
from workflows.case_handles import case_histories, hand_over_replies
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


async def data_review_merged(h: Harness, handle: Handle) -> None:
    """A duplicate record reviewed: merged into the older record it duplicates."""
    task = await h.task(handle, TaskKind.DATA_REVIEW)
    await handle.execute_update(
        CloseCustomerWorkflow.decide,
        DecisionRequest(
            task.task_id, TaskDecision.MERGE, OWNER_ACTOR, "same company", merge_into=SURVIVOR
        ),
    )


SURVIVOR = "cust-survivor"


async def replies_read(h: Harness, handle: Handle) -> None:
    """Replies by mail at three stages: read as nothing to act on in win-back, as a
    confirmation before the effective date, and as a deletion request in retention."""
    inbound = reply_inbound(h)
    case_id = (await h.status(handle)).case_id

    async def reply(body: str) -> None:
        receive_reply(inbound, case_id, body)
        await hand_over_replies(h.client, inbound)

    await h.task(handle, TaskKind.WIN_BACK)
    await reply("Who is writing to me?")
    await h.decide(handle, TaskKind.CUSTOMER_REPLY, TaskDecision.OTHER)
    await h.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
    await h.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE, comment="no response")
    await h.stage(handle, Stage.AWAITING_EFFECTIVE_DATE)
    await reply("Fine, close it.")
    await h.decide(handle, TaskKind.CUSTOMER_REPLY, TaskDecision.CONFIRM)
    await h.env.sleep(timedelta(days=31))
    await h.stage(handle, Stage.RETENTION)
    await reply("Delete everything you hold about me.")
    await h.decide(handle, TaskKind.CUSTOMER_REPLY, TaskDecision.REQUEST_DELETION)


async def own_request_extended(h: Harness, handle: Handle) -> None:
    """A customer's own request: given more time with a reason, the requester checked, what
    the law does not require deleted at once, the rest on its own dates."""
    await h.task(handle, TaskKind.APPROVAL)
    case = h.cases.get_case((await h.status(handle)).case_id)
    assert case is not None and case.request_due_at is not None
    await handle.execute_update(
        CloseCustomerWorkflow.extend_request,
        RequestExtension(
            case.request_due_at + timedelta(days=20),
            "archived invoices must be retrieved first",
            OWNER_ACTOR,
            case.id,
        ),
    )
    await h.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE, comment="identity checked")


SCENARIOS: dict[str, tuple[ValueTier, Callable[[Harness, Handle], Awaitable[None]]]] = {
    "deleted_with_hold": (ValueTier.STANDARD, deleted_with_hold),
    "four_eyes_then_cancelled": (ValueTier.HIGH, four_eyes_then_cancelled),
    "reactivated": (ValueTier.STANDARD, reactivated),
    "refused_notice_reviewed": (ValueTier.STANDARD, refused_notice_reviewed),
    "data_export_then_cancelled": (ValueTier.STANDARD, data_export_then_cancelled),
    "escalated_after_claims": (ValueTier.STANDARD, escalated_after_claims),
    "deleted_with_confirmation": (ValueTier.STANDARD, deleted_with_confirmation),
    "deleted_by_category": (ValueTier.STANDARD, deleted_by_category),
    "data_review_merged": (ValueTier.STANDARD, data_review_merged),
    "replies_read": (ValueTier.STANDARD, replies_read),
    "own_request_extended": (ValueTier.STANDARD, own_request_extended),
}
# Scenarios run under another policy than the standard one.
POLICIES = {
    "deleted_with_confirmation": "confirming",
    "deleted_by_category": "by-category",
    "own_request_extended": "by-category",
}
# Scenarios opened by another trigger than inactivity: (trigger, evidence).
OPENED_BY = {
    "own_request_extended": (
        Trigger.CUSTOMER_REQUEST,
        {"channel": "email", "requested_on": "2026-11-30"},
    ),
    "data_review_merged": (
        Trigger.DATA_QUALITY,
        {"problem": "duplicate", "duplicate_of": [SURVIVOR], "same": ["email"]},
    ),
}


async def record_runs(h: Harness, handle: Handle, stem: str) -> None:
    """Every run of the case, the first as STEM.json and each one it continued as new into
    (retention, renewed every year) as STEM.runN.json."""
    assert handle.first_execution_run_id is not None
    runs = await case_histories(h.client, handle.id, handle.first_execution_run_id)
    for number, history in enumerate(runs, 1):
        name = f"{stem}.json" if number == 1 else f"{stem}.run{number}.json"
        (HISTORIES / name).write_text(history.to_json())
        print(f"recorded {name}: {len(history.events)} events")


async def main(suffix: str, only: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    refusing = Refusing(free_port())
    refusing_controller = Controller(refusing, hostname="127.0.0.1", port=refusing.port)
    refusing_controller.start()
    try:
        async with standalone_harness("record") as h:
            accepting = h.settings.smtp_port
            for name, (tier, drive) in SCENARIOS.items():
                if only and name not in only:
                    continue
                # The refused notice's scenario meets a mail server that refuses everything.
                h.settings.smtp_port = (
                    refusing.port if name == "refused_notice_reviewed" else accepting
                )
                trigger, evidence = OPENED_BY.get(name, (Trigger.INACTIVITY, None))
                handle = await h.start(
                    h.add_customer(tier=tier),
                    trigger,
                    policy=POLICIES.get(name, "standard"),
                    evidence=evidence,
                )
                await drive(h, handle)
                await handle.result()
                await record_runs(h, handle, f"{name}{suffix}")
    finally:
        refusing_controller.stop()


if __name__ == "__main__":
    import sys

    asyncio.run(main(f"-{sys.argv[1]}" if len(sys.argv) > 1 else "", sys.argv[2:]))
