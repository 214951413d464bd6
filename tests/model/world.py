"""One example's real parts: its own event loop in a thread, a time-skipping server, the real
worker and activities on a fresh SQLite file, and the shared aiosmtpd sink.

A `RuleBasedStateMachine` is synchronous; every coroutine runs on the loop this world owns,
with a hard timeout, so a case that hangs fails the step instead of the whole run.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from closeout.db import Database
from closeout.demo import add_customer
from closeout.domain import ValueTier
from closeout.temporal import DATA_CONVERTER
from tests.conftest import make_settings
from tests.support import VENV_BIN, MailSink, at_rest, eventually, read_model
from tests.workflows.conftest import OWNER, Harness
from worker import build_activities, build_worker
from workflows.close_customer import CloseCustomerWorkflow

T = TypeVar("T")
CaseHandle = WorkflowHandle[CloseCustomerWorkflow, Any]

# Every example's customer has the same id, so its seeded records are the same in every run
# (each example has a database of its own).
CUSTOMER_ID = "cust-model"
# A step that takes longer than this has hung: the case never came to rest.
STEP_TIMEOUT = 60.0


class CaseWorld:
    """The real stack one example drives; `close()` leaves no loop, server or thread behind."""

    def __init__(self, root: Path, template_db: Path, mail: MailSink) -> None:
        self.dir = Path(tempfile.mkdtemp(dir=root))
        shutil.copyfile(template_db, self.dir / "closeout.db")
        url = f"sqlite:///{self.dir}/closeout.db"
        self.settings = make_settings(self.dir, url, mail)
        self.db = Database.from_url(url)
        self.mail = mail
        self.task_queue = f"model-{uuid.uuid4()}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._worker: Worker | None = None
        self._worker_run: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.env: WorkflowEnvironment | None = None
        try:
            self.env = self.run(
                WorkflowEnvironment.start_time_skipping(
                    data_converter=DATA_CONVERTER,
                    test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
                )
            )
            self.start_worker()
        except BaseException:
            self.close()
            raise
        self.harness = Harness(
            self.env,
            self.env.client,
            self.db,
            mail,
            self.settings,
            self.task_queue,
            read_model(self.db, self.settings),
        )

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = STEP_TIMEOUT) -> T:
        """Run a coroutine on this world's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # ------------------------------------------------------------------ worker

    def start_worker(self) -> None:
        assert self.env is not None
        self._executor = ThreadPoolExecutor(max_workers=8)
        activities = build_activities(self.settings, self.db, self.env.client)

        async def start() -> None:
            assert self.env is not None and self._executor is not None
            # No sticky cache: the test server cannot hand a sticky task to a new worker, and
            # every step then replays the case's whole history, which checks determinism too.
            self._worker = build_worker(
                self.env.client, activities, self._executor, self.task_queue, cached_workflows=0
            )
            self._worker_run = asyncio.create_task(self._worker.run())

        self.run(start())

    def stop_worker(self) -> None:
        async def stop() -> None:
            if self._worker is not None:
                await self._worker.shutdown()
            if self._worker_run is not None:
                await self._worker_run
            self._worker = self._worker_run = None

        try:
            self.run(stop())
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def restart_worker(self) -> None:
        """A new worker on the same task queue: the case goes on from its history alone."""
        self.stop_worker()
        self.start_worker()

    # ------------------------------------------------------------------ the case

    def add_customer(self, tier: ValueTier, locale: str) -> str:
        with self.db.session() as session:
            add_customer(
                session,
                CUSTOMER_ID,
                name="Customer Model",
                owner=OWNER,
                value_tier=tier,
                locale=locale,
            )
        return CUSTOMER_ID

    def settle(self, handle: CaseHandle) -> None:
        """Wait until the case is at rest: no activity pending and its last workflow task
        done, so the read model, the CRM and the outbox say all they will say."""
        settled = eventually(
            lambda: at_rest(handle), within=STEP_TIMEOUT - 5, what="the case at rest"
        )
        self.run(settled)

    def sleep(self, duration: timedelta) -> None:
        assert self.env is not None
        self.run(self.env.sleep(duration), timeout=STEP_TIMEOUT * 3)

    # ------------------------------------------------------------------ teardown

    def close(self) -> None:
        try:
            if self._worker is not None:
                self.stop_worker()
            if self.env is not None:
                self.run(self.env.shutdown())
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=30)
            self.loop.close()
            self.db.engine.dispose()
            shutil.rmtree(self.dir, ignore_errors=True)
