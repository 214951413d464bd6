"""Close-customer cases per second on the dev server, against a bare workflow of the same shape.

    python bench/throughput.py [--cases 800] [--concurrency 50] [--rounds 4] [--mode mixed]

Both run against the same Temporal dev server (a SQLite file in WAL mode, as `closeout dev`
runs it), their workers in one process of their own: by default both kinds in flight together,
started in one random order per round (`--mode mixed`), the ratio that of the mean time a
workflow of each kind holds one of the `--concurrency` slots, with its spread over the rounds;
`--mode alternate` runs one kind after the other each round, as earlier figures were taken.
A round holds at least four times as many workflows as run at once: the start and the tail of
a round, when fewer are in flight, must not weigh much, or the rate measured is a latency.
Each case: win-back failed and approval given through two Updates, a notice period and a
retention timer, every activity real (SQLite read model and CRM, SMTP to a local aiosmtpd,
archive on disk). The bare workflow runs as many no-op activities around two Updates awaited
under a deadline and two timers of the same length.
The last line is `ratio=<case rate / bare rate>`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.bare_workflow import BareCaseWorkflow, BareRetentionWorkflow, BareShape, bare_step
from bench.throughput_rounds import CpuMeter, alternate, child_running, measure, mixed
from closeout.cases.models import TaskRecord
from closeout.cases.repository import CaseRepository, case_repository
from closeout.contracts import Actor, CloseCustomerInput, DecisionRequest
from closeout.db import Database, upgrade
from closeout.demo import add_customer
from closeout.domain import ChurnClass, Role, TaskDecision, TaskKind, TaskStatus, Trigger
from closeout.policy_config import PolicyConfig
from closeout.settings import Settings
from closeout.temporal import DATA_CONVERTER, workflow_runner
from tests.support import VENV_BIN, free_port
from worker import build_activities, build_worker
from workflows.case_handles import case_histories
from workflows.close_customer import CloseCustomerWorkflow

NOTICE = timedelta(seconds=1)
RETENTION = timedelta(seconds=1)
UPDATE_DEADLINE = timedelta(hours=1)  # the win-back window; approval is due in a day
POLL = 0.25  # seconds between two looks for a task
OWNER = Actor("li.na@example.com", Role.ACCOUNT_MANAGER)
SERVER_ARGS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]


class Inbox:
    """The owner's open tasks, looked at every POLL seconds while a case waits on one.

    One look serves every case in flight, as one `GET /api/tasks?status=open` lists an
    account manager's whole inbox.
    """

    def __init__(self, repo: CaseRepository) -> None:
        self.repo = repo
        self.waiting: dict[tuple[str, str], asyncio.Future[TaskRecord]] = {}
        self.poller: asyncio.Task[None] | None = None

    async def task(self, case_id: str, kind: TaskKind) -> TaskRecord:
        found: asyncio.Future[TaskRecord] = asyncio.get_running_loop().create_future()
        self.waiting[(case_id, kind)] = found
        if self.poller is None or self.poller.done():
            self.poller = asyncio.create_task(self._poll())
        try:
            return await found
        finally:
            del self.waiting[(case_id, kind)]

    async def _poll(self) -> None:
        while self.waiting:
            page = await asyncio.to_thread(
                self.repo.list_tasks,
                status=TaskStatus.OPEN,
                assignee=OWNER.name,
                limit=10_000,
                offset=0,
            )
            for task in page.items:
                found = self.waiting.get((task.case_id, task.kind))
                if found is not None and not found.done():
                    found.set_result(task)
            await asyncio.sleep(POLL)


async def run_case(client: Client, inbox: Inbox, queue: str, customer_id: str) -> None:
    """One case, its two decisions given as soon as its task shows in the inbox.

    Like the inbox and the tasks API, the bench learns of a task from the read model; asking
    the workflow instead would cost the worker a workflow task per look.
    """
    case = CloseCustomerInput(
        str(uuid.uuid4()), customer_id, Trigger.INACTIVITY, ChurnClass.NATURAL, "bench", "bench"
    )
    handle = await client.start_workflow(
        CloseCustomerWorkflow.run, case, id=f"close-customer-{customer_id}", task_queue=queue
    )
    result = asyncio.ensure_future(handle.result())  # a failed case ends the wait at once
    for kind, decision in (
        (TaskKind.WIN_BACK, TaskDecision.FAILED),
        (TaskKind.APPROVAL, TaskDecision.APPROVE),
    ):
        shown = asyncio.ensure_future(inbox.task(case.case_id, kind))
        await asyncio.wait({shown, result}, return_when=asyncio.FIRST_COMPLETED)
        if not shown.done():
            shown.cancel()
            raise RuntimeError(f"{customer_id} ended before its {kind} task: {result.result()}")
        await handle.execute_update(
            CloseCustomerWorkflow.decide,
            DecisionRequest(shown.result().id, decision, OWNER, comment="bench"),
        )
    await result


async def run_bare(client: Client, queue: str, shape: BareShape) -> None:
    handle = await client.start_workflow(
        BareCaseWorkflow.run, shape, id=f"bare-{uuid.uuid4()}", task_queue=queue
    )
    for steps in shape.in_updates:
        while not await handle.query(BareCaseWorkflow.waiting_for_update):  # noqa: ASYNC110
            await asyncio.sleep(POLL)
        await handle.execute_update(BareCaseWorkflow.decide, steps)
    await handle.result()


async def case_events(
    client: Client, workflow_id: str, run: Awaitable[None]
) -> list[tuple[int, HistoryEvent]]:
    """Run the case, then every event of every run of its chain, each with its run's number."""
    await run
    described = await client.get_workflow_handle(workflow_id).describe()
    first_run = described.raw_description.workflow_execution_info.first_run_id
    histories = await case_histories(client, workflow_id, first_run)
    return [(number, e) for number, history in enumerate(histories) for e in history.events]


async def case_shape(client: Client, inbox: Inbox, queue: str, customer_id: str) -> BareShape:
    """Count a real case's activities around its Updates and timers, for the bare twin."""
    events = await case_events(
        client, f"close-customer-{customer_id}", run_case(client, inbox, queue, customer_id)
    )
    fired = {
        (run, e.timer_fired_event_attributes.started_event_id)
        for run, e in events
        if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED
    }
    deadlines = sum(e.event_type == EventType.EVENT_TYPE_TIMER_CANCELED for _, e in events)
    runs: list[int] = [0]
    in_updates: list[int] = []
    inside = False
    continued_after: int | None = None
    for run, event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            continued_after = runs[-1]
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if inside:
                in_updates[-1] += 1
            else:
                runs[-1] += 1
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            inside = True
            in_updates.append(0)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            inside = False
            runs.append(0)
        elif (
            event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
            and (run, event.event_id) in fired
        ):
            runs.append(0)
    # A decision that is already there when the case starts waiting needs no deadline timer,
    # so a case has up to two; the bare twin always starts both.
    if (
        len(in_updates) != 2
        or len(runs) != 5
        or len(fired) != 2
        or deadlines > 2
        or continued_after is None
    ):
        raise RuntimeError(
            f"the case no longer has the bench's shape: {len(in_updates)} updates, "
            f"{len(fired)} timers fired, {deadlines} deadlines cancelled, "
            f"continued as new: {continued_after is not None}"
        )
    before_first, between, before_timer, between_timers, after = runs
    return BareShape(
        before_first_update=before_first,
        in_updates=(in_updates[0], in_updates[1]),
        between_updates=between,
        before_first_timer=before_timer,
        before_second_timer=between_timers,
        after_second_timer=after,
        before_continue_as_new=continued_after,
        first_timer=NOTICE,
        second_timer=RETENTION,
        update_deadline=UPDATE_DEADLINE,
    )


def bench_settings(url: str, smtp_port: int, archive: Path) -> Settings:
    policy = PolicyConfig(
        win_back_window=UPDATE_DEADLINE,
        notice_period=NOTICE,
        approval_due=timedelta(days=1),
        retention=RETENTION,
    )
    return Settings(
        dev_mode=True,
        var_dir=archive.parent,
        database_url=url,
        smtp_port=smtp_port,
        archive_dir=archive,
        policies={"bench": policy},
    )


async def serve_workers(
    address: str, queue: str, url: str, smtp_port: int, archive: Path, threads: int
) -> None:
    """The workers run in a process of their own, as they do in production."""
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    db = Database.from_url(url)
    with ThreadPoolExecutor(max_workers=threads) as executor:
        case_worker = build_worker(
            client, build_activities(bench_settings(url, smtp_port, archive), db), executor, queue
        )
        bare_worker = Worker(
            client,
            task_queue=queue + "-bare",
            workflows=[BareCaseWorkflow, BareRetentionWorkflow],
            # Its module imported once, as the case's are (`worker.WORKFLOW_RUNNER`).
            workflow_runner=workflow_runner("bench.bare_workflow"),
            activities=[bare_step],
            max_concurrent_activities=64,
        )
        await asyncio.gather(case_worker.run(), bare_worker.run())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=800)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4, help="rounds the cases are split into")
    parser.add_argument(
        "--mode",
        choices=["mixed", "alternate"],
        default="mixed",
        help="both kinds in flight together (default), or one kind after the other per round",
    )
    parser.add_argument("--seed", type=int, default=1, help="the mixed rounds' start order")
    parser.add_argument(
        "--warmup", type=int, default=100, help="workflows of each kind run first, unmeasured"
    )
    parser.add_argument(
        "--threads", type=int, default=32, help="activity threads of the case worker"
    )
    parser.add_argument(
        "--serve-workers",
        nargs=4,
        metavar=("ADDRESS", "QUEUE", "DB_URL", "SMTP_PORT"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--archive", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.serve_workers and args.cases < 4 * args.concurrency * args.rounds:
        parser.error(
            f"{args.rounds} rounds of {args.cases // args.rounds} measure latency, not throughput, "
            f"with {args.concurrency} at once: give at least "
            f"{4 * args.concurrency * args.rounds} cases or fewer rounds"
        )
    if args.serve_workers:
        address, queue, url, smtp_port = args.serve_workers
        await serve_workers(address, queue, url, int(smtp_port), args.archive, args.threads)
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root}/closeout.db"
        upgrade(url)
        db = Database.from_url(url)
        with db.session() as session:
            for i in range(args.cases + 1 + args.warmup):
                add_customer(session, f"bench-{i:05d}", name=f"Bench {i}", owner=OWNER.name)
        # The SMTP server runs in its own process, as a real one would.
        smtp_port = free_port()
        inbox = Inbox(case_repository(bench_settings(url, smtp_port, root / "archive"), db))
        smtp = subprocess.Popen(  # noqa: ASYNC220 - a server process that outlives this call
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{smtp_port}",
                "-c",
                "aiosmtpd.handlers.Sink",
            ]
        )
        metrics_port = free_port()
        env = await WorkflowEnvironment.start_local(
            data_converter=DATA_CONVERTER,
            dev_server_existing_path=str(VENV_BIN / "temporal"),
            dev_server_database_filename=str(root / "temporal.db"),
            dev_server_extra_args=[*SERVER_ARGS, "--metrics-port", str(metrics_port)],
        )
        queue = f"bench-{uuid.uuid4()}"
        bare_queue = queue + "-bare"
        address = env.client.service_client.config.target_host
        workers = subprocess.Popen(  # noqa: ASYNC220 - the worker process under test
            [
                sys.executable,
                __file__,
                "--threads",
                str(args.threads),
                "--archive",
                str(root / "archive"),
                "--serve-workers",
                address,
                queue,
                url,
                str(smtp_port),
            ]
        )
        meter = CpuMeter(
            {
                "server": child_running(os.getpid(), "start-dev"),
                "workers": workers.pid,
                "mail": smtp.pid,
                "bench": os.getpid(),
            },
            server_metrics=f"http://127.0.0.1:{metrics_port}/metrics",
        )
        try:
            shape = await case_shape(env.client, inbox, queue, f"bench-{args.cases:05d}")
            print(f"shape: {shape}")
            # Unmeasured: the first rounds on an empty store, with every cache of the worker
            # and the server cold, favoured whichever kind ran first.
            first = args.cases + 1
            warm = range(first, first + args.warmup)
            await measure(warm, args.concurrency, lambda i: run_bare(env.client, bare_queue, shape))
            await measure(
                warm,
                args.concurrency,
                lambda i: run_case(env.client, inbox, queue, f"bench-{i:05d}"),
            )
            print(f"warm-up: {args.warmup} of each, not measured", flush=True)
            run_one_bare = lambda i: run_bare(env.client, bare_queue, shape)  # noqa: E731
            run_one_case = lambda i: run_case(env.client, inbox, queue, f"bench-{i:05d}")  # noqa: E731
            if args.mode == "mixed":
                ratio, per_round = await mixed(
                    args.cases, args.rounds, args.concurrency, run_one_bare, run_one_case,
                    args.seed,
                )  # fmt: skip
            else:
                bare, cases = await alternate(
                    args.cases, args.rounds, args.concurrency, run_one_bare, run_one_case, meter
                )
                ratio, per_round = cases / bare, []
        finally:
            workers.terminate()
            workers.wait()
            await env.shutdown()
            smtp.terminate()
        print(
            f"mode={args.mode} cases={args.cases} concurrency={args.concurrency} "
            f"rounds={args.rounds} warmup={args.warmup} poll={POLL}s"
        )
        if per_round:
            print(f"spread over rounds: {min(per_round):.2f} to {max(per_round):.2f}")
        else:
            print(f"bare workflow: {bare:.2f}/s")
            print(f"close-customer case: {cases:.2f}/s")
            for kind in ("bare", "case"):
                print(f"CPU a {kind} workflow: {meter.per_workflow(kind, args.cases)}")
            for kind in ("bare", "case"):
                print(f"server a {kind} workflow: {meter.server_requests(kind, args.cases)}")
        print(f"ratio={ratio:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
