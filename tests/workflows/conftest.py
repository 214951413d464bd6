"""A time-skipping Temporal test server with the real worker, activities and adapters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from closeout.cases.repository import CaseRepository
from closeout.constants import case_workflow_id
from closeout.contracts import (
    Actor,
    CaseStatus,
    CloseCustomerInput,
    DecisionRequest,
    DecisionResult,
    TaskView,
)
from closeout.db import Database
from closeout.demo import SHAPES, add_customer
from closeout.domain import (
    DEFAULT_CHURN_CLASS,
    ChurnClass,
    Role,
    Stage,
    TaskDecision,
    TaskKind,
    Trigger,
    ValueTier,
)
from closeout.inbound.receiving import Inbound, InboundOutcome, inbound_from
from closeout.settings import Settings
from closeout.temporal import DATA_CONVERTER
from tests.support import VENV_BIN, MailSink, at_rest, eventually, read_model
from worker import build_activities, build_worker
from workflows.close_customer import CloseCustomerWorkflow

REPLY_DOMAIN = "replies.example.com"
# A status query in a polling loop gives up after this (see Harness.polled_status).
QUERY_WITHIN = timedelta(seconds=3)


def _timed_out(exc: RPCError) -> bool:
    """The server's deadline comes back as DEADLINE_EXCEEDED; the client's own timer, when it
    fires first, as CANCELLED "Timeout expired" (tonic's timeout layer)."""
    if exc.status is RPCStatusCode.DEADLINE_EXCEEDED:
        return True
    return exc.status is RPCStatusCode.CANCELLED and "timeout expired" in exc.message.lower()


OWNER = "li.na@example.com"
MANAGER = "maria.rossi@example.com"
OWNER_ACTOR = Actor(OWNER, Role.ACCOUNT_MANAGER)
MANAGER_ACTOR = Actor(MANAGER, Role.MANAGER)
SECOND_MANAGER = Actor("grace.manager@example.com", Role.MANAGER)
OTHER_AM = Actor("sam.okafor@example.com", Role.ACCOUNT_MANAGER)
COMPLIANCE = Actor("kim.compliance@example.com", Role.COMPLIANCE_OFFICER)


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
    )
    yield env
    await env.shutdown()


@dataclass
class Harness:
    env: WorkflowEnvironment
    client: Client
    db: Database
    mail: MailSink
    settings: Settings
    task_queue: str
    cases: CaseRepository

    def add_customer(
        self,
        tier: ValueTier = ValueTier.STANDARD,
        trigger: Trigger | None = None,
        locale: str = "en",
    ) -> str:
        customer_id = f"cust-{uuid.uuid4().hex[:10]}"
        with self.db.session() as session:
            add_customer(
                session,
                customer_id,
                name=f"Customer {customer_id}",
                owner=OWNER,
                value_tier=tier,
                locale=locale,
                shape=SHAPES[trigger],
            )
        return customer_id

    async def start(
        self,
        customer_id: str,
        trigger: Trigger = Trigger.INACTIVITY,
        churn_class: ChurnClass | None = None,
        policy: str = "standard",
        opened_by: str = OWNER,
        evidence: dict[str, object] | None = None,
    ) -> WorkflowHandle[CloseCustomerWorkflow, object]:
        case = CloseCustomerInput(
            case_id=str(uuid.uuid4()),
            customer_id=customer_id,
            trigger=trigger,
            churn_class=churn_class or DEFAULT_CHURN_CLASS[trigger],
            policy=policy,
            opened_by=opened_by,
            evidence=evidence if evidence is not None else {"inactive_days": 400},
        )
        return await self.client.start_workflow(
            CloseCustomerWorkflow.run,
            case,
            id=case_workflow_id(customer_id),
            task_queue=self.task_queue,
        )

    async def status(self, handle: WorkflowHandle[CloseCustomerWorkflow, object]) -> CaseStatus:
        """The case's status once its latest run is at rest (see `polled_status`)."""
        return await eventually(lambda: self.polled_status(handle), what="the case's status")

    async def polled_status(
        self, handle: WorkflowHandle[CloseCustomerWorkflow, object]
    ) -> CaseStatus | None:
        """The status for a loop that waits for the case to move: asked only when the case's
        latest run is at rest; None until then, or when the query was lost all the same
        (the server lets it run to its deadline): the next look asks again.

        The time-skipping server holds a query that comes while the run has work in flight
        for its next workflow task; when that task continues the run as new, the query is
        never answered and the time-skipping lock the server took for it is never given
        back, so every timer after it waits in real time (a three-year retention: forever).
        A run at rest takes the query at once."""
        if not await at_rest(handle):
            return None
        try:
            return await handle.query(CloseCustomerWorkflow.status, rpc_timeout=QUERY_WITHIN)
        except RPCError as exc:
            if not _timed_out(exc):
                raise
            return None

    async def task(
        self, handle: WorkflowHandle[CloseCustomerWorkflow, object], kind: TaskKind
    ) -> TaskView:
        async def pending() -> TaskView | None:
            status = await self.polled_status(handle)
            if status is None:
                return None
            return next((t for t in status.pending_tasks if t.kind is kind), None)

        return await eventually(pending, what=f"a pending {kind} task")

    async def stage(
        self, handle: WorkflowHandle[CloseCustomerWorkflow, object], stage: Stage
    ) -> CaseStatus:
        async def reached() -> CaseStatus | None:
            status = await self.polled_status(handle)
            return status if status is not None and status.stage is stage else None

        return await eventually(reached, what=f"stage {stage}")

    async def decide(
        self,
        handle: WorkflowHandle[CloseCustomerWorkflow, object],
        kind: TaskKind,
        decision: TaskDecision,
        actor: Actor = OWNER_ACTOR,
        comment: str | None = None,
        defer_until: datetime | None = None,
    ) -> DecisionResult:
        task = await self.task(handle, kind)
        return await handle.execute_update(
            CloseCustomerWorkflow.decide,
            DecisionRequest(
                task.task_id, decision, actor, comment=comment, defer_until=defer_until
            ),
        )

    async def approve_closure(self, handle: WorkflowHandle[CloseCustomerWorkflow, object]) -> None:
        """Win-back fails, the owner approves, the notice period passes: the case archives."""
        await self.decide(handle, TaskKind.WIN_BACK, TaskDecision.FAILED)
        await self.decide(handle, TaskKind.APPROVAL, TaskDecision.APPROVE, comment="no response")
        await self.stage(handle, Stage.AWAITING_EFFECTIVE_DATE)
        await self.env.sleep(timedelta(days=31))

    def actions(self, case_id: str) -> list[str]:
        return [e.action for e in self.cases.case_audit(case_id)]


def reply_inbound(h: Harness) -> Inbound:
    return inbound_from(h.settings.model_copy(update={"inbound_domain": REPLY_DOMAIN}), h.db)


def receive_reply(inbound: Inbound, case_id: str, body: str) -> str:
    """A reply to the case's address as the endpoint keeps it; its inbound id."""
    msg = EmailMessage()
    msg["From"] = "Ana Customer <ana@example.org>"
    msg["To"] = to = inbound.replies.address_for(case_id)
    msg["Subject"] = "Re: your account"
    msg["Message-ID"] = f"<{uuid.uuid4()}@example.org>"
    msg.set_content(f"{body}\n\nOn Monday, Closeout wrote:\n> Your account will close\n\n-- \nAna")
    received = inbound.receive(msg.as_bytes(), [to], datetime.now(UTC))
    assert received.outcome is InboundOutcome.ACCEPTED and received.inbound_id is not None
    return received.inbound_id


@pytest.fixture
async def harness(
    time_env: WorkflowEnvironment, settings: Settings, db: Database, mail: MailSink
) -> AsyncIterator[Harness]:
    task_queue = f"test-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=32) as executor:
        worker = build_worker(
            time_env.client, build_activities(settings, db, time_env.client), executor, task_queue
        )
        async with worker:
            yield Harness(
                time_env, time_env.client, db, mail, settings, task_queue, read_model(db, settings)
            )
