"""How the model drives its case: send a request, let the case come to rest, check it."""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from temporalio.client import WorkflowUpdateFailedError

from closeout.contracts import CaseStatus, TaskView
from closeout.domain import Trigger
from tests.model.expectations import Expect
from tests.model.invariants import Observed, check_all, observe
from tests.model.world import CaseHandle, CaseWorld
from workflows.close_customer import CloseCustomerWorkflow

DAY = timedelta(days=1)
YEAR = timedelta(days=365)
# The time-skipping server ends a run after ten years; the jumps stay well inside them.
TIME_BUDGET = 9 * YEAR
# Timers closer than this after a step are run out before the next step, so no timer fires
# by the wall clock while a step is checked (the server's time goes on in real time).
NEAR = timedelta(minutes=10)


class CaseDriver(RuleBasedStateMachine):
    """What the model knows of its one case, and how a step is sent, settled and checked."""

    def __init__(self, world: CaseWorld) -> None:
        super().__init__()
        self.world = world
        self.handle: CaseHandle | None = None
        self.status: CaseStatus | None = None
        self.seen: Observed | None = None
        self.skipped = timedelta(0)
        self.approvers: list[str] = []
        self.triggers: set[Trigger] = set()
        self.links = 0
        self.used_links: list[str] = []
        self.four_eyes_opener: str | None = None
        self.policy = ""

    @property
    def case(self) -> CaseHandle:
        assert self.handle is not None
        return self.handle

    @property
    def now_status(self) -> CaseStatus:
        assert self.status is not None
        return self.status

    def open(self) -> bool:
        return self.status is not None and self.status.outcome is None

    def now(self) -> datetime:
        assert self.world.env is not None
        return self.world.run(self.world.env.get_current_time())

    def query(self) -> CaseStatus:
        return self.world.run(self.case.query(CloseCustomerWorkflow.status))

    def at_rest(self) -> Observed:
        """Settle, run out the timers about to fire, and observe everything."""
        self.world.settle(self.case)
        while True:
            status = self.query()
            now = self.now()
            near = [t for t in upcoming(status) if now < t <= now + NEAR]
            if not near:
                break
            step = max(near) - now + timedelta(minutes=1)
            self.world.sleep(step)
            self.skipped += step
            self.world.settle(self.case)
        self.status = status
        return observe(self.world, status)

    def step_done(self) -> Observed:
        self.seen = self.at_rest()
        check_all(self.seen)
        return self.seen

    def send(self, update: Coroutine[Any, Any, object], must: Expect) -> bool:
        """Send one Update; a refusal must change nothing, an acceptance must be expected."""
        before = self.seen
        assert before is not None
        try:
            self.world.run(update)
            accepted, why = True, ""
        except WorkflowUpdateFailedError as exc:
            accepted, why = False, str(exc.cause)
        after = self.step_done()
        assert accepted == (must is Expect.ACCEPT), f"expected to {must.value}; refusal: {why}"
        if not accepted:
            assert after.comparable() == before.comparable(), "a refused Update changed the case"
        return accepted

    def pick_task(self, data: st.DataObject) -> TaskView:
        tasks = sorted(self.now_status.pending_tasks, key=lambda t: (t.created_at, t.kind))
        return data.draw(st.sampled_from(tasks), label="task")

    def teardown(self) -> None:
        self.world.close()


def upcoming(status: CaseStatus) -> list[datetime]:
    """Every timer the case has set: its main wait and its tasks' reminders and due dates."""
    times = [status.next_timer] if status.next_timer is not None else []
    for task in status.pending_tasks:
        if task.due_at is not None:
            times += [task.due_at, task.due_at - DAY]
    return times
