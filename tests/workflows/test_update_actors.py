"""Every Update that changes a case checks who sends it, whatever way it came in.

The API checks roles and owners before it asks; these tests send Updates straight to the
workflow, as any client of the Temporal server could, and see the validators refuse what the
API would have refused — and change nothing.
"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError

from closeout.contracts import (
    Actor,
    CancelRequest,
    CustomerAnswer,
    EvidenceRequest,
    ReactivateRequest,
)
from closeout.domain import (
    CUSTOMER_ACTOR_ROLE,
    SYSTEM_ACTOR,
    CustomerResponse,
    Role,
    Stage,
    TaskKind,
    Trigger,
)
from tests.workflows.conftest import COMPLIANCE, MANAGER_ACTOR, OTHER_AM, OWNER_ACTOR, Harness
from workflows.close_customer import CloseCustomerWorkflow

INTEGRATION = Actor("crm@example.com", Role.INTEGRATION)
CUSTOMER = Actor("customer", CUSTOMER_ACTOR_ROLE)


async def refusal(call: object) -> tuple[str, str]:
    with pytest.raises(WorkflowUpdateFailedError) as exc:
        await call  # type: ignore[misc]
    cause = exc.value.cause
    return getattr(cause, "type", ""), getattr(cause, "message", str(cause))


async def test_answers_come_from_the_customer_link_or_the_customers_manager(
    harness: Harness,
) -> None:
    handle = await harness.start(harness.add_customer())
    await harness.task(handle, TaskKind.WIN_BACK)

    def answer(actor: Actor, link_id: str | None = None) -> object:
        return handle.execute_update(
            CloseCustomerWorkflow.respond,
            CustomerAnswer(CustomerResponse.OBJECT, actor, "please no", link_id=link_id),
        )

    assert (await refusal(answer(INTEGRATION)))[0] == "Forbidden"
    assert (await refusal(answer(COMPLIANCE)))[0] == "Forbidden"
    # A customer speaks only through a signed link; staff relay without one.
    assert await refusal(answer(CUSTOMER)) == (
        "Forbidden",
        "a customer's own answer comes through a signed link",
    )
    assert (await refusal(answer(OWNER_ACTOR, link_id="link-1")))[0] == "Forbidden"
    # Another account manager's customer.
    kind, message = await refusal(answer(OTHER_AM))
    assert kind == "Forbidden" and OTHER_AM.name in message
    status = await harness.status(handle)
    assert [t.kind for t in status.pending_tasks] == [TaskKind.WIN_BACK]

    # The customer's manager and the customer's own link are heard.
    await answer(OWNER_ACTOR)
    await answer(CUSTOMER, link_id="link-2")
    await harness.stage(handle, Stage.WIN_BACK)
    reviews = [t for t in (await harness.status(handle)).pending_tasks]
    assert [t.kind for t in reviews].count(TaskKind.OBJECTION_REVIEW) == 2
    await handle.terminate("test over")


async def test_cancel_and_evidence_check_the_sender(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer())
    await harness.task(handle, TaskKind.WIN_BACK)

    def cancel(actor: Actor) -> object:
        return handle.execute_update(CloseCustomerWorkflow.cancel, CancelRequest("paid", actor))

    def evidence(actor: Actor, trigger: Trigger) -> object:
        return handle.execute_update(
            CloseCustomerWorkflow.add_evidence,
            EvidenceRequest(trigger, {"overdue_invoices": 3}, actor),
        )

    assert (await refusal(cancel(OTHER_AM)))[0] == "Forbidden"
    assert (await refusal(cancel(INTEGRATION)))[0] == "Forbidden"
    assert (await refusal(cancel(CUSTOMER)))[0] == "Forbidden"
    assert (await refusal(evidence(COMPLIANCE, Trigger.PAYMENT_ARREARS)))[0] == "Forbidden"
    assert (await refusal(evidence(CUSTOMER, Trigger.PAYMENT_ARREARS)))[0] == "Forbidden"
    assert (await harness.status(handle)).outcome is None

    # The scheduled detection and an integration add evidence; a manager cancels any case.
    await evidence(Actor("detection", SYSTEM_ACTOR), Trigger.PAYMENT_ARREARS)
    await evidence(INTEGRATION, Trigger.UNPROFITABLE)
    await cancel(MANAGER_ACTOR)
    result = await handle.result()
    assert result.outcome == "cancelled"


async def test_reactivation_by_another_account_manager_is_refused(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer())
    await harness.approve_closure(handle)
    await harness.stage(handle, Stage.RETENTION)
    reactivate = handle.execute_update(
        CloseCustomerWorkflow.reactivate, ReactivateRequest("came back", OTHER_AM)
    )
    assert (await refusal(reactivate))[0] == "Forbidden"
    assert (await harness.status(handle)).stage is Stage.RETENTION
    await handle.terminate("test over")
