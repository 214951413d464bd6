"""A workflow with the close-customer case's shape and none of its work: the baseline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow


@dataclass(frozen=True)
class BareShape:
    """How many activities run before, between and after the two Updates and two timers.

    Each Update is awaited under a deadline, as a case awaits its win-back and approval
    decisions: a timer started, and cancelled when the Update comes.
    """

    before_first_update: int
    in_updates: tuple[int, int]
    between_updates: int
    before_first_timer: int
    before_second_timer: int
    after_second_timer: int
    # Of the activities before the second timer, how many run before the workflow continues
    # as new into its second run (as a case continues into retention after its archive step).
    before_continue_as_new: int
    first_timer: timedelta
    second_timer: timedelta
    update_deadline: timedelta


@activity.defn
async def bare_step(n: int) -> int:
    return n


@workflow.defn
class BareCaseWorkflow:
    def __init__(self) -> None:
        self.updates = 0
        self.waiting = False

    @workflow.run
    async def run(self, shape: BareShape) -> int:
        await self._steps(shape.before_first_update)
        for expected in (1, 2):
            self.waiting = True
            await workflow.wait_condition(
                lambda e=expected: self.updates >= e,  # type: ignore[misc]
                timeout=shape.update_deadline,
            )
            self.waiting = False
            if expected == 1:
                await self._steps(shape.between_updates)
        await self._steps(shape.before_first_timer)
        await workflow.sleep(shape.first_timer)
        await _steps(shape.before_continue_as_new)
        workflow.continue_as_new(args=[shape], workflow=BareRetentionWorkflow.run)

    async def _steps(self, count: int) -> None:
        await _steps(count)

    @workflow.update
    async def decide(self, steps: int) -> int:
        self.updates += 1
        await self._steps(steps)
        return self.updates

    @workflow.query
    def waiting_for_update(self) -> bool:
        return self.waiting


@workflow.defn
class BareRetentionWorkflow:
    """The bare case's second run, as RetentionWorkflow is the case's."""

    @workflow.run
    async def run(self, shape: BareShape) -> int:
        await _steps(shape.before_second_timer - shape.before_continue_as_new)
        await workflow.sleep(shape.second_timer)
        await _steps(shape.after_second_timer)
        return 2


async def _steps(count: int) -> None:
    for n in range(count):
        await workflow.execute_activity(bare_step, n, start_to_close_timeout=timedelta(seconds=30))
