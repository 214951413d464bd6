"""A model-based test of the close-customer case: staff, the customer, compliance, the clock
and worker restarts act on one case in every order hypothesis finds, on the time-skipping
server with the real worker and activities (SQLite, aiosmtpd); after every step the case's
promises are checked against the read model, the CRM, the archive, the outbox and the audit.

`make test` runs a bounded, reproducible budget; `make test-deep` sets
CLOSEOUT_MODEL_EXAMPLES for thousands of examples.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from closeout.contracts import (
    Actor,
    AssignRequest,
    CancelRequest,
    CustomerAnswer,
    DecisionRequest,
    EvidenceRequest,
    HoldReleaseRequest,
    HoldRequest,
    ReactivateRequest,
    RetentionChange,
    RetentionPeriodsChange,
)
from closeout.db import upgrade
from closeout.domain import (
    ALLOWED_DECISIONS,
    CUSTOMER_ACTOR_ROLE,
    SYSTEM_ACTOR,
    Assignment,
    CustomerResponse,
    DataCategory,
    Role,
    Stage,
    TaskDecision,
    TaskKind,
    Trigger,
    ValueTier,
)
from tests.model import expectations as expect
from tests.model.driver import DAY, TIME_BUDGET, YEAR, CaseDriver
from tests.model.invariants import check_reactivated, restorable
from tests.model.world import CaseWorld
from tests.support import MailSink
from tests.workflows.conftest import (
    COMPLIANCE,
    MANAGER_ACTOR,
    OTHER_AM,
    OWNER,
    OWNER_ACTOR,
    SECOND_MANAGER,
)
from workflows.close_customer import CloseCustomerWorkflow

EXAMPLES = int(os.environ.get("CLOSEOUT_MODEL_EXAMPLES", "40"))
STEPS = int(os.environ.get("CLOSEOUT_MODEL_STEPS", "15"))
# A run is reproducible: derandomized, or drawn from the seed given to pytest
# (`--hypothesis-seed`), so that runs with different seeds try different examples at once.
SEEDED = bool(os.environ.get("CLOSEOUT_MODEL_SEED"))
MODEL_SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    derandomize=not SEEDED,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

CUSTOMER = Actor("customer", CUSTOMER_ACTOR_ROLE)
INTEGRATION = Actor("crm@example.com", Role.INTEGRATION)
STAFF = (OWNER_ACTOR, MANAGER_ACTOR, SECOND_MANAGER, OTHER_AM, COMPLIANCE)
# Hypothesis tries the first elements first: deciders who move the case on lead, and those
# who may stop it (cancel, reactivate) start with someone who may not.
DECIDERS = (MANAGER_ACTOR, SECOND_MANAGER, OWNER_ACTOR, OTHER_AM, COMPLIANCE)
STOPPERS = (COMPLIANCE, OTHER_AM, OWNER_ACTOR, MANAGER_ACTOR)
REASONS = st.sampled_from([None, " ", "agreed with the customer"])
# Compliance's requests are mostly well formed, so holds and retention changes do happen.
KEEPERS = (COMPLIANCE, COMPLIANCE, OWNER_ACTOR)
GROUNDS = st.sampled_from(["litigation pending", "litigation pending", None, " "])
HOUR = timedelta(hours=1)
PERIODS = st.sampled_from([timedelta(0), 30 * DAY, YEAR, 3 * YEAR])
JUMPS = st.one_of(
    st.integers(1, 180).map(lambda m: timedelta(minutes=m)),
    st.integers(1, 72).map(lambda h: h * HOUR),
    st.integers(1, 60).map(lambda d: d * DAY),
    st.integers(1, 4).map(lambda y: y * YEAR),
)


class CaseMachine(CaseDriver):
    """One case; each rule is something that can happen to it, each step ends at rest."""

    # ------------------------------------------------------------------ the case opens

    @initialize(
        policy=st.sampled_from(["standard", "confirming", "by-category"]),
        tier=st.sampled_from([ValueTier.STANDARD, ValueTier.HIGH]),
        trigger=st.sampled_from([Trigger.INACTIVITY, Trigger.FRAUD, Trigger.MANUAL]),
        locale=st.sampled_from(["en", "zh-CN"]),
    )
    def open_case(self, policy: str, tier: ValueTier, trigger: Trigger, locale: str) -> None:
        customer = self.world.add_customer(tier, locale)
        self.policy = policy
        self.triggers = {trigger}
        # Whoever opened a manual case may not give its second approval.
        self.four_eyes_opener = OWNER if trigger is Trigger.MANUAL else None
        self.handle = self.world.run(
            self.world.harness.start(customer, trigger=trigger, policy=policy)
        )
        self.step_done()

    # ------------------------------------------------------------------ staff on tasks

    @precondition(lambda self: self.open() and self.now_status.pending_tasks)
    @rule(data=st.data())
    def decide(self, data: st.DataObject) -> None:
        task = self.pick_task(data)
        allowed = sorted(ALLOWED_DECISIONS[task.kind])
        choice = data.draw(
            st.one_of(st.sampled_from(allowed), st.sampled_from(list(TaskDecision))),
            label="decision",
        )
        actor = data.draw(st.sampled_from(DECIDERS), label="actor")
        comment = data.draw(REASONS, label="comment")
        defer_days = data.draw(st.sampled_from([None, -1, 2, 20]), label="defer_days")
        now = self.now()
        defer_until = None if defer_days is None else now + defer_days * DAY
        must = expect.decision(
            task, choice, actor, comment, defer_until, now, self.approvers, self.four_eyes_opener
        )
        request = DecisionRequest(task.task_id, choice, actor, comment, defer_until)
        accepted = self.send(self.case.execute_update(CloseCustomerWorkflow.decide, request), must)
        if accepted and choice is TaskDecision.APPROVE and task.kind in APPROVALS:
            self.approvers.append(actor.name)

    @precondition(lambda self: self.open())
    @rule()
    def the_closure_goes_ahead(self) -> None:
        """The usual path, to the archive (or, archived, to the next deletion): a manager
        decides each task so the closure goes on; with nothing to decide, time runs to the
        case's next deadline. Each move is a step of its own, checked at rest."""
        archived = self.now_status.stage is Stage.RETENTION
        for _ in range(8):
            if not self.open() or (self.now_status.stage is Stage.RETENTION) != archived:
                return
            if not self.move_on() or archived:
                return

    def move_on(self) -> bool:
        """One move of the usual path; False when there was nothing to do."""
        tasks = sorted(self.now_status.pending_tasks, key=lambda t: (t.created_at, t.kind))
        if not tasks:
            moved = self.now_status.next_timer is not None
            self.until_the_next_timer()
            return moved
        task = tasks[0]
        choice = TaskDecision.FAILED if task.kind is TaskKind.WIN_BACK else TaskDecision.APPROVE
        actor = MANAGER_ACTOR if MANAGER_ACTOR.name not in self.approvers else SECOND_MANAGER
        now = self.now()
        must = expect.decision(
            task, choice, actor, None, None, now, self.approvers, self.four_eyes_opener
        )
        request = DecisionRequest(task.task_id, choice, actor)
        accepted = self.send(self.case.execute_update(CloseCustomerWorkflow.decide, request), must)
        if accepted and task.kind in APPROVALS:
            self.approvers.append(actor.name)
        return accepted

    @precondition(lambda self: self.open() and self.now_status.pending_tasks)
    @rule(data=st.data())
    def assign(self, data: st.DataObject) -> None:
        task = self.pick_task(data)
        action = data.draw(st.sampled_from(list(Assignment)), label="action")
        actor = data.draw(st.sampled_from(STAFF), label="actor")
        to = data.draw(st.sampled_from([None, OWNER, OTHER_AM.name, "group:managers"]), label="to")
        note = data.draw(REASONS, label="note")
        must = expect.assignment(task, action, actor, to, note)
        request = AssignRequest(task.task_id, action, actor, to=to, note=note)
        self.send(self.case.execute_update(CloseCustomerWorkflow.assign, request), must)

    # ------------------------------------------------------------------ the customer

    @precondition(lambda self: self.open())
    @rule(
        response=st.sampled_from(list(CustomerResponse)),
        via=st.sampled_from(
            ["link", "used link", "owner", "manager", "other", "bare", "compliance"]
        ),
        comment=st.sampled_from([None, " ", "we paid last week"]),
    )
    def respond(self, response: CustomerResponse, via: str, comment: str | None) -> None:
        link: str | None = None
        actor = {"owner": OWNER_ACTOR, "manager": MANAGER_ACTOR, "other": OTHER_AM}.get(via)
        if via == "compliance":
            actor = COMPLIANCE
        if actor is None:
            actor = CUSTOMER
            if via == "link" or (via == "used link" and not self.used_links):
                self.links += 1
                link = f"link-{self.links}"
            elif via == "used link":
                link = self.used_links[0]
        must = expect.answer(
            response,
            actor,
            OWNER,
            link is not None,
            link in self.used_links,
            comment,
            self.now_status.stage,
        )
        answer = CustomerAnswer(response, actor, comment, link, case_id=self.now_status.case_id)
        if (
            self.send(self.case.execute_update(CloseCustomerWorkflow.respond, answer), must)
            and link
        ):
            self.used_links.append(link)

    # ------------------------------------------------------------------ the closure itself

    @precondition(lambda self: self.open())
    @rule(actor=st.sampled_from(STOPPERS), reason=REASONS)
    def cancel(self, actor: Actor, reason: str | None) -> None:
        must = expect.cancel(actor, OWNER, reason or "", self.now_status.stage)
        request = CancelRequest(reason or "", actor, case_id=self.now_status.case_id)
        self.send(self.case.execute_update(CloseCustomerWorkflow.cancel, request), must)

    @precondition(lambda self: self.open())
    @rule(
        trigger=st.sampled_from([Trigger.PAYMENT_ARREARS, Trigger.UNPROFITABLE, Trigger.FRAUD]),
        actor=st.sampled_from([INTEGRATION, OWNER_ACTOR, COMPLIANCE, CUSTOMER]),
    )
    def add_evidence(self, trigger: Trigger, actor: Actor) -> None:
        may = actor.role in {Role.INTEGRATION, Role.ACCOUNT_MANAGER, Role.MANAGER, SYSTEM_ACTOR}
        must = expect.given(may and trigger not in self.triggers)
        request = EvidenceRequest(trigger, {"overdue_invoices": 3}, actor, self.now_status.case_id)
        if self.send(self.case.execute_update(CloseCustomerWorkflow.add_evidence, request), must):
            self.triggers.add(trigger)

    @precondition(lambda self: self.open())
    @rule(actor=st.sampled_from(STOPPERS), reason=REASONS)
    def reactivate(self, actor: Actor, reason: str | None) -> None:
        must = expect.reactivation(actor, OWNER, reason or "", self.now_status.stage)
        archived = restorable(self.seen) if self.seen is not None else {}
        request = ReactivateRequest(reason or "", actor, case_id=self.now_status.case_id)
        if self.send(self.case.execute_update(CloseCustomerWorkflow.reactivate, request), must):
            assert self.seen is not None
            check_reactivated(self.seen, archived)

    # ------------------------------------------------------------------ compliance

    @precondition(lambda self: self.open())
    @rule(
        actor=st.sampled_from(KEEPERS),
        reason=GROUNDS,
        review_days=st.sampled_from([None, -1, 30]),
    )
    def place_legal_hold(self, actor: Actor, reason: str | None, review_days: int | None) -> None:
        review_at = None if review_days is None else self.now() + review_days * DAY
        must = expect.given(
            expect.compliance(actor, reason or "") and (review_days is None or review_days > 0)
        )
        request = HoldRequest(
            reason or "", actor, "LIT-1", review_at, case_id=self.now_status.case_id
        )
        self.send(self.case.execute_update(CloseCustomerWorkflow.place_legal_hold, request), must)

    @precondition(lambda self: self.open())
    @rule(data=st.data(), actor=st.sampled_from(KEEPERS), reason=GROUNDS)
    def release_legal_hold(self, data: st.DataObject, actor: Actor, reason: str | None) -> None:
        holds = sorted(h.hold_id for h in self.now_status.legal_holds)
        hold_id = data.draw(st.sampled_from([*holds, "no-such-hold"]), label="hold")
        must = expect.given(expect.compliance(actor, reason or "") and hold_id in holds)
        request = HoldReleaseRequest(hold_id, reason or "", actor, self.now_status.case_id)
        self.send(self.case.execute_update(CloseCustomerWorkflow.release_legal_hold, request), must)

    @precondition(lambda self: self.open())
    @rule(
        after=JUMPS,
        category=st.sampled_from([None, *DataCategory]),
        actor=st.sampled_from(KEEPERS),
        reason=GROUNDS,
    )
    def change_retention(
        self, after: timedelta, category: DataCategory | None, actor: Actor, reason: str | None
    ) -> None:
        status = self.now_status
        kept = {c.category for c in status.category_clocks if c.deleted_at is None}
        must = expect.given(
            expect.compliance(actor, reason or "")
            and status.stage is Stage.RETENTION
            and (category is None or category in kept)
        )
        request = RetentionChange(
            self.now() + after, reason or "", actor, category, case_id=status.case_id
        )
        self.send(self.case.execute_update(CloseCustomerWorkflow.change_retention, request), must)

    @precondition(lambda self: self.open())
    @rule(
        periods=st.one_of(
            st.fixed_dictionaries({c: PERIODS for c in DataCategory}),
            st.dictionaries(st.sampled_from(list(DataCategory)), PERIODS, max_size=3),
        ),
        policy=st.sampled_from(["this", "standard"]),
        actor=st.sampled_from(KEEPERS),
        reason=GROUNDS,
    )
    def apply_retention_periods(
        self,
        periods: dict[DataCategory, timedelta],
        policy: str,
        actor: Actor,
        reason: str | None,
    ) -> None:
        status = self.now_status
        name = self.policy if policy == "this" else policy
        one_period_in_retention = status.stage is Stage.RETENTION and not status.category_clocks
        must = expect.given(
            expect.compliance(actor, reason or "")
            and name == self.policy
            and not one_period_in_retention
            and set(periods) in ({*DataCategory}, set())
        )
        request = RetentionPeriodsChange(name, periods, reason or "", actor, status.case_id)
        self.send(
            self.case.execute_update(CloseCustomerWorkflow.apply_retention_periods, request), must
        )

    # ------------------------------------------------------------------ time and crashes

    @precondition(lambda self: self.skipped < TIME_BUDGET - timedelta(minutes=1))
    @rule(jump=JUMPS)
    def time_passes(self, jump: timedelta) -> None:
        jump = min(jump, TIME_BUDGET - self.skipped)
        self.world.sleep(jump)
        self.skipped += jump
        self.step_done()

    @precondition(lambda self: self.open() and self.now_status.next_timer is not None)
    @rule()
    def until_the_next_timer(self) -> None:
        """Time runs to the case's next deadline (the window, the effective date, an end)."""
        deadline = self.now_status.next_timer
        jump = timedelta(0) if deadline is None else deadline - self.now() + timedelta(minutes=1)
        jump = min(jump, TIME_BUDGET - self.skipped)
        if jump > timedelta(0):
            self.world.sleep(jump)
            self.skipped += jump
        self.step_done()

    @precondition(lambda self: self.handle is not None)
    @rule()
    def worker_restarts(self) -> None:
        self.world.restart_worker()
        self.step_done()


APPROVALS = frozenset({TaskKind.APPROVAL, TaskKind.SECOND_APPROVAL})


def test_every_order_of_events_keeps_the_promises(tmp_path: Path, mail: MailSink) -> None:
    template = tmp_path / "template.db"
    upgrade(f"sqlite:///{template}")

    class OnThisMachine(CaseMachine):
        def __init__(self) -> None:
            super().__init__(CaseWorld(tmp_path, template, mail))

    run_state_machine_as_test(OnThisMachine, settings=MODEL_SETTINGS)
