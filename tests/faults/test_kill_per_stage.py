"""The worker SIGKILLed once in every stage of a case, each case on the same real stack: every
case still ends deleted, with one bundle, one revocation, each mail once and one certificate,
and the audit chain verifies."""

from __future__ import annotations

import pytest

from tests.faults.cases import CaseDriver, FaultCase
from tests.faults.checks import chain_intact
from tests.faults.holds import STAGES, Moment
from tests.faults.stack import FaultStack

# The cases alone may take the driver's ten minutes; the stack starts and stops around them.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]


async def test_a_worker_killed_in_each_stage_is_replaced(fault_stack: FaultStack) -> None:
    # Killed once a stage's effects are written but before Temporal hears of it: the retry
    # on the new worker meets work already done. One case per stage, all at once, one worker.
    cases = [FaultCase(stage, Moment.AFTER) for stage in STAGES]
    driver = CaseDriver(fault_stack, timeout=600)
    assert await driver.run_all(cases) == []

    never_reached = [c.stage for c in cases if c.killed_at is None]
    assert never_reached == [], f"no worker was killed in {never_reached}"
    wrong = [str(v) for v in await driver.verdicts(cases) if not v.right]
    assert wrong == []
    assert chain_intact(fault_stack.db) is None
    assert 1 <= driver.kills <= len(STAGES)
