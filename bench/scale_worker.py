"""The worker's memory with many cases waiting in retention.

The real worker (`python -m worker`) runs in a process of its own against a Temporal dev
server (its own process, a SQLite file as `closeout dev` runs it), a real SMTP sink and the
read model on SQLite. Cases are started as the detection activity starts them, under a
policy with a one-second notice period and a ten-year retention; the account manager's two
decisions (win-back failed, approve) are given as soon as the tasks show in the read model.
A case counts once the read model shows it in retention; the worker's resident memory is
read from /proc once every case has come to rest there.

With `straight=True` (`bench/scale.py --straight-to-retention`) the cases skip the closing
stages, which take a second or two each: each gets its case row (stage retention, through the
repository the activities write with) and its workflow is started as the retention run a case
continues into each year (`RetentionWorkflow`, already entered, ten years to go). The worker
holds such a run exactly as it holds one that came through the whole process; the activities
of the closing stages are not exercised.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client

from bench.throughput import Inbox
from closeout.cases.repository import CaseRepository, case_repository
from closeout.constants import TASK_QUEUE
from closeout.contracts import (
    Actor,
    AuditEntry,
    CaseChange,
    CaseOpened,
    CaseTerms,
    CloseCustomerInput,
    DecisionRequest,
)
from closeout.db import Database, upgrade
from closeout.demo import add_customer, seed_demo_users
from closeout.devstack import temporal_server_command
from closeout.domain import ChurnClass, Role, Stage, TaskDecision, TaskKind, Trigger
from closeout.settings import Settings
from closeout.temporal import connect
from closeout.users.accounts import Accounts
from tests.support import free_port
from workflows.case.state import RetentionInput
from workflows.close_customer import CloseCustomerWorkflow
from workflows.retention_workflow import RetentionWorkflow

OWNER = Actor("li.na@example.com", Role.ACCOUNT_MANAGER)
POLICY: dict[str, object] = {
    "win_back_window": "PT1H",
    "notice_period": "PT1S",
    "approval_due": "P1D",
    "retention": "P3650D",
    "task_reminder_before": None,
    "four_eyes_tiers": [],
}
AT_ONCE = 50


def rss_mib(pid: int) -> float:
    """Resident memory of a process (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextmanager
def running(root: Path, cached_workflows: int | None) -> Iterator[tuple[Settings, int]]:
    """Dev server, SMTP sink and the real worker, configured alike: settings and worker pid."""
    temporal_port, smtp_port = free_port(), free_port()
    url = f"sqlite:///{root}/closeout.db"
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "CLOSEOUT_DEV_MODE": "true",
        "CLOSEOUT_DATABASE_URL": url,
        "CLOSEOUT_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "CLOSEOUT_SMTP_PORT": str(smtp_port),
        "CLOSEOUT_VAR_DIR": str(root),
        "CLOSEOUT_ARCHIVE_DIR": str(root / "archive"),
        "CLOSEOUT_POLICIES": json.dumps({"bench": POLICY}),
        "CLOSEOUT_DEFAULT_POLICY": "bench",
    }
    if cached_workflows is not None:
        env["CLOSEOUT_WORKER_CACHED_WORKFLOWS"] = str(cached_workflows)
    upgrade(url)
    seed_demo_users(Accounts(Database.from_url(url), dev_mode=True))
    log = open(root / "processes.log", "ab")  # noqa: SIM115 - open as long as they run
    server_args = temporal_server_command(
        "127.0.0.1", temporal_port, root / "temporal.db", log_level="error",
        extra=["--http-port", str(free_port()), "--metrics-port", str(free_port())],
    )  # fmt: skip
    smtp_args = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}",
                 "-c", "aiosmtpd.handlers.Sink"]  # fmt: skip
    procs = [subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
             for args in (server_args, smtp_args)]  # fmt: skip
    try:
        time.sleep(2)
        worker = subprocess.Popen([sys.executable, "-m", "worker"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, cwd=env["PYTHONPATH"])  # fmt: skip
        procs.append(worker)
        settings = Settings(
            dev_mode=True, database_url=url, temporal_address=f"127.0.0.1:{temporal_port}"
        )
        yield settings, worker.pid
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait()
        log.close()


async def to_retention(client: Client, inbox: Inbox, repo: CaseRepository, n: int) -> None:
    """Case `n` from its start to its retention timer."""
    customer_id = f"mem-{n:06d}"
    case = CloseCustomerInput(str(uuid.uuid4()), customer_id, Trigger.INACTIVITY,
                              ChurnClass.NATURAL, "bench", "bench")  # fmt: skip
    handle = await client.start_workflow(
        CloseCustomerWorkflow.run, case, id=f"close-customer-{customer_id}", task_queue=TASK_QUEUE
    )
    for kind, decision in ((TaskKind.WIN_BACK, TaskDecision.FAILED),
                           (TaskKind.APPROVAL, TaskDecision.APPROVE)):  # fmt: skip
        task = await inbox.task(case.case_id, kind)
        await handle.execute_update(
            CloseCustomerWorkflow.decide, DecisionRequest(task.id, decision, OWNER, "bench")
        )
    while True:
        found = await asyncio.to_thread(repo.get_case, case.case_id)
        if found is not None and found.stage == Stage.RETENTION:
            return
        await asyncio.sleep(0.5)


async def fill(
    client: Client, settings: Settings, db: Database, first: int, last: int, straight: bool
) -> None:
    """Cases first..last-1 into retention, AT_ONCE at a time."""
    with db.session() as session:
        for n in range(first, last):
            add_customer(session, f"mem-{n:06d}", name=f"Customer {n}", owner=OWNER.name)
    repo = case_repository(settings, db)
    inbox, gate = Inbox(repo), asyncio.Semaphore(AT_ONCE)
    done = 0

    async def one(n: int) -> None:
        nonlocal done
        async with gate:
            if straight:
                await straight_to_retention(client, repo, n)
            else:
                await to_retention(client, inbox, repo, n)
        done += 1
        if done % 100 == 0:
            print(f"  in retention: {first + done:,}", file=sys.stderr, flush=True)

    await asyncio.gather(*(one(n) for n in range(first, last)))


TERMS = CaseTerms(
    owner=OWNER.name,
    value_tier="standard",
    win_back_window=timedelta(hours=1),
    notice_period=timedelta(seconds=1),
    approval_due=timedelta(days=1),
    retention=timedelta(days=3650),
    four_eyes=False,
)


async def straight_to_retention(client: Client, repo: CaseRepository, n: int) -> None:
    """Case `n` recorded in retention and its retention run started (see the module doc)."""
    customer_id = f"mem-{n:06d}"
    case = CloseCustomerInput(str(uuid.uuid4()), customer_id, Trigger.INACTIVITY,
                              ChurnClass.NATURAL, "bench", "bench")  # fmt: skip
    now = datetime.now(UTC)
    end = now + TERMS.retention
    workflow_id = f"close-customer-{customer_id}"

    def audit(action: str) -> AuditEntry:
        return AuditEntry(str(uuid.uuid4()), "system", action, now)

    opened = CaseOpened(case, workflow_id, str(uuid.uuid4()), audit("case_opened"))
    await asyncio.to_thread(repo.record_case_opened, opened, OWNER.name, "standard")
    change = CaseChange(case.case_id, audit("stage_entered"), stage=Stage.RETENTION,
                        retention_end=end)  # fmt: skip
    await asyncio.to_thread(repo.apply_case_change, change)
    await client.start_workflow(
        RetentionWorkflow.run,
        RetentionInput(case=case, terms=TERMS, retention_end=end, entered=True),
        id=workflow_id,
        task_queue=TASK_QUEUE,
    )


async def settle_and_read(pid: int, seconds: float = 15) -> float:
    """The worker's RSS once nothing has moved for a while (the lowest of a few reads)."""
    await asyncio.sleep(seconds)
    reads = []
    for _ in range(5):
        reads.append(rss_mib(pid))
        await asyncio.sleep(1)
    return min(reads)


async def worker_memory(
    root: Path, sizes: list[int], cached_workflows: int | None, straight: bool = False
) -> list[tuple[int, float]]:
    """(cases in retention, worker RSS MiB), first with none, then at each size in turn."""
    with running(root, cached_workflows) as (settings, pid):
        client = await connect(settings)
        db = Database.from_url(settings.database_url)
        gc.collect()
        figures = [(0, await settle_and_read(pid, 5))]
        reached = 0
        for size in sizes:
            started = time.perf_counter()
            await fill(client, settings, db, reached, size, straight)
            took = time.perf_counter() - started
            print(f"  {size - reached:,} cases into retention in {took:.0f} s", file=sys.stderr)
            reached = size
            figures.append((size, await settle_and_read(pid)))
            print(f"  worker RSS with {size:,} in retention: {figures[-1][1]:.0f} MiB",
                  file=sys.stderr, flush=True)  # fmt: skip
        db.engine.dispose()
        return figures
