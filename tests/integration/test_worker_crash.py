"""Two workers on one task queue, the one running a backup killed: the other takes its work
over and finishes the case; nothing is done twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlmodel import select
from temporalio.api.enums.v1 import PendingActivityState

from closeout.audit.models import AuditEvent
from closeout.cases.models import ArchiveBundleRecord
from closeout.crm.models import CrmInteraction
from closeout.domain import DataCategory
from tests.integration.helpers import decide, new_customer, open_case, open_task, wait_case
from tests.integration.stack import Stack, start_stack

pytestmark = pytest.mark.integration

# Enough history that the export takes a noticeable while, so the kill lands inside it.
INTERACTIONS = 150_000


@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(Path(tmp_path_factory.mktemp("crash")))


def _add_history(stack: Stack, customer_id: str) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "id": f"{customer_id}-h{i}",
            "customer_id": customer_id,
            "at": now - timedelta(minutes=i),
            "channel": "email",
            "summary": f"Follow-up call {i} about the quarterly order plan",
        }
        for i in range(INTERACTIONS)
    ]
    db = stack.db
    with db.session() as session:
        session.execute(insert(CrmInteraction), rows)
    db.engine.dispose()


async def _backup_runner(stack: Stack, workflow_id: str) -> str | None:
    """The identity (`pid@host`) of the worker running the case's backup, once it runs."""
    client = await stack.temporal()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        description = await client.get_workflow_handle(workflow_id).describe()
        for pending in description.raw_description.pending_activities:
            if (
                pending.activity_type.name == "backup_customer_data"
                and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            ):
                return pending.last_worker_identity
        await asyncio.sleep(0.02)
    return None


def _polling(stack: Stack, name: str) -> bool:
    log = stack.root / f"{name}.log"
    return log.exists() and "worker polling task queue" in log.read_text(errors="replace")


def test_the_other_worker_takes_over_a_killed_workers_backup(crash_stack: Stack) -> None:
    stack = crash_stack
    stack.start_another_worker("worker-2")
    deadline = time.monotonic() + 60
    while not (_polling(stack, "worker") and _polling(stack, "worker-2")):
        assert time.monotonic() < deadline, "the two workers did not both start polling"
        time.sleep(0.2)
    customer = new_customer(stack)
    _add_history(stack, customer)
    with stack.client("owner") as api:
        created = open_case(api, customer)
        case_id = created["case_id"]
        decide(api, open_task(api, case_id, "win_back")["id"], "failed")
        decide(api, open_task(api, case_id, "approval")["id"], "approve")

        runner = asyncio.run(_backup_runner(stack, created["workflow_id"]))
        assert runner, "backup never started"
        pids = {name: proc.pid for name, proc in stack.procs.items() if name.startswith("worker")}
        victim = next(name for name, pid in pids.items() if runner.startswith(f"{pid}@"))
        survivor = next(name for name in pids if name != victim)
        stack.kill(victim)
        backup_done_before_kill = _count(stack, case_id, "backup_created")

        # No worker is started again: the survivor alone finishes the case.
        wait_case(api, case_id, stage="retention", timeout=180)
        db = stack.db
        with db.session() as session:
            records = session.exec(
                select(ArchiveBundleRecord).where(ArchiveBundleRecord.case_id == case_id)
            ).all()
        db.engine.dispose()
        # One backup, verified, then split into one bundle per data category (demo policy);
        # nothing on disk that the read model does not know of.
        backups = [r for r in records if r.category is None]
        assert len(backups) == 1 and backups[0].verified_at is not None
        assert backups[0].record_counts["interactions"] >= INTERACTIONS
        assert sorted(r.category or "" for r in records if r.category) == sorted(DataCategory)
        on_disk = {p.stem for p in (stack.archive_dir / customer).glob("*")}
        assert on_disk <= {r.id for r in records}, on_disk
        wait_case(api, case_id, outcome="deleted", timeout=120)

    assert backup_done_before_kill == 0, "the kill landed after the backup finished"
    assert _count(stack, case_id, "backup_created") == 1
    assert set(stack.procs) & set(pids) == {survivor}
    closed = [
        m
        for m in stack.mail.messages
        if customer in str(m["To"]) and "is closed" in str(m["Subject"])
    ]
    assert len(closed) == 1


def _count(stack: Stack, case_id: str, action: str) -> int:
    db = stack.db
    with db.session() as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.action == action)
        ).all()
    db.engine.dispose()
    return len(rows)
