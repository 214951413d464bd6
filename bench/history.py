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
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from closeout.contracts import HoldReleaseRequest, HoldRequest, RetentionPeriodsChange
from closeout.db import Database, upgrade
from closeout.domain import DataCategory, Stage
from closeout.settings import STANDARD_POLICY
from closeout.temporal import DATA_CONVERTER
from tests.conftest import make_settings
from tests.support import VENV_BIN, read_model, start_mail_sink
from tests.workflows.conftest import COMPLIANCE, Harness
from worker import build_activities, build_worker
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
    found: list[Run] = []
    run_id = handle.first_execution_run_id
    while run_id:
        history = await h.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        found.append(Run(started.workflow_type.name, len(history.events)))
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
    return found


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
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root}/closeout.db"
        upgrade(url)
        sink, controller = start_mail_sink()
        policies = {
            f"kept-{n}": STANDARD_POLICY.model_copy(
                update={"category_retention": periods(n), "jurisdictions": {}}
            )
            for n in years
        }
        settings = make_settings(root, url, sink, policies=policies)
        db = Database.from_url(url)
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=DATA_CONVERTER,
            test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
        )
        largest: dict[int, int] = {}
        try:
            with ThreadPoolExecutor(max_workers=16) as executor:
                queue = f"history-{uuid.uuid4()}"
                async with build_worker(
                    env.client, build_activities(settings, db), executor, queue
                ):
                    h = Harness(
                        env, env.client, db, sink, settings, queue, read_model(db, settings)
                    )
                    for n in years:
                        found = await keep(h, n)
                        for number, run in enumerate(found, 1):
                            print(
                                f"{n:>2} years  run {number:>2}  {run.workflow_type:<22} "
                                f"{run.events:>5} events"
                            )
                        retention = [
                            r.events for r in found if r.workflow_type != found[0].workflow_type
                        ]
                        largest[n] = max(r.events for r in found)
                        print(
                            f"{n:>2} years  {len(found)} runs, {sum(r.events for r in found)} "
                            f"events in all; largest run {largest[n]}, largest retention run "
                            f"{max(retention)}",
                            flush=True,
                        )
        finally:
            await env.shutdown()
            controller.stop()
    print(f"ratio={largest[years[-1]] / largest[years[0]]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
