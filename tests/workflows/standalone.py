"""A case harness outside pytest (for the history recorder and the history benchmark): a
migrated SQLite read model, a mail sink, the time-skipping test server and a worker."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from closeout.db import Database, upgrade
from closeout.temporal import DATA_CONVERTER
from tests.conftest import make_settings
from tests.support import VENV_BIN, read_model, start_mail_sink
from tests.workflows.conftest import Harness
from worker import build_activities, build_worker


@asynccontextmanager
async def standalone_harness(name: str, **settings: object) -> AsyncIterator[Harness]:
    """The harness the workflow tests get from their fixtures; `settings` override the tests'."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root}/closeout.db"
        upgrade(url)
        sink, controller = start_mail_sink()
        db = Database.from_url(url)
        config = make_settings(root, url, sink, **settings)
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=DATA_CONVERTER,
            test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
        )
        try:
            with ThreadPoolExecutor(max_workers=32) as executor:
                queue = f"{name}-{uuid.uuid4()}"
                async with build_worker(env.client, build_activities(config, db), executor, queue):
                    yield Harness(env, env.client, db, sink, config, queue, read_model(db, config))
        finally:
            await env.shutdown()
            controller.stop()
            db.engine.dispose()
