"""How long a case's history grows when it is kept for decades.

    python bench/history.py [--years 1 10 30]

For each number of years, one case on the time-skipping test server with the real activities
(SQLite read model and CRM, SMTP to a local aiosmtpd, archive on disk): win-back failed, the
closure approved, the notice period over, archived under a policy that keeps every data
category that many years; then, every month of retention, a legal hold placed and released
two weeks later, and every year a changed policy applied (each category's end moved by a day).
The case continues as new into RetentionWorkflow when archived, and that workflow again each
year and whenever its history grows long, so each run stays about a year's size.

Prints the events of each run and the total per case, then the largest run of the longest case
against the largest of the shortest. The last line is
`ratio=<events of the longest case's largest run / the shortest case's>`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import WorkflowHandle

from closeout.contracts import HoldReleaseRequest, HoldRequest, RetentionPeriodsChange
from closeout.domain import DataCategory, Stage
from closeout.policy_config import STANDARD_POLICY
from tests.workflows.conftest import COMPLIANCE, Harness
from tests.workflows.standalone import standalone_harness
from workflows.case_handles import case_histories
from workflows.close_customer import CloseCustomerWorkflow

YEAR = timedelta(days=365)
MONTH = timedelta(days=30)


@dataclass(frozen=True)
class Run:
    workflow_type: str
    events: int


def periods(years: int, shift_days: int = 0) -> dict[DataCategory, timedelta]:
    return {c: years * YEAR + timedelta(days=shift_days) for c in DataCategory}


async def runs_of(h: Harness, handle: WorkflowHandle[CloseCustomerWorkflow, object]) -> list[Run]:
    """Every run of the case, from its first to the one that ended it."""
    assert handle.first_execution_run_id is not None
    histories = await case_histories(h.client, handle.id, handle.first_execution_run_id)
    return [
        Run(
            history.events[0].workflow_execution_started_event_attributes.workflow_type.name,
            len(history.events),
        )
        for history in histories
    ]


async def keep(h: Harness, years: int) -> list[Run]:
    """One case kept `years` years with a hold every month and a policy change every year."""
    handle = await h.start(h.add_customer(), policy=f"kept-{years}")
    await h.approve_closure(handle)
    status = await h.stage(handle, Stage.RETENTION)
    case_id = status.case_id
    for month in range(1, years * 12 + 1):
        placed = await handle.execute_update(
            CloseCustomerWorkflow.place_legal_hold,
            HoldRequest(f"audit {month}", COMPLIANCE, case_id=case_id),
        )
        assert placed.hold_id is not None
        await h.env.sleep(MONTH / 2)
        await handle.execute_update(
            CloseCustomerWorkflow.release_legal_hold,
            HoldReleaseRequest(placed.hold_id, "audit closed", COMPLIANCE, case_id=case_id),
        )
        if month % 12 == 0:
            await handle.execute_update(
                CloseCustomerWorkflow.apply_retention_periods,
                RetentionPeriodsChange(
                    f"kept-{years}",
                    periods(years, shift_days=(month // 12) % 2),
                    "the yearly policy review",
                    COMPLIANCE,
                    case_id=case_id,
                ),
            )
        await h.env.sleep(MONTH / 2)
    await handle.result()
    return await runs_of(h, handle)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, nargs="+", default=[1, 10, 30])
    args = parser.parse_args()
    years = sorted(args.years)
    policies = {
        f"kept-{n}": STANDARD_POLICY.model_copy(
            update={"category_retention": periods(n), "jurisdictions": {}}
        )
        for n in years
    }
    largest: dict[int, int] = {}
    async with standalone_harness("history", policies=policies) as h:
        for n in years:
            found = await keep(h, n)
            for number, run in enumerate(found, 1):
                print(
                    f"{n:>2} years  run {number:>2}  {run.workflow_type:<22} {run.events:>5} events"
                )
            retention = [r.events for r in found[1:]]
            largest[n] = max(r.events for r in found)
            print(
                f"{n:>2} years  {len(found)} runs, {sum(r.events for r in found)} events in all; "
                f"largest run {largest[n]}, largest retention run {max(retention)}",
                flush=True,
            )
    print(f"ratio={largest[years[-1]] / largest[years[0]]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
