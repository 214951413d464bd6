"""The product's worker, with stage holds: `python -m tests.faults.worker`.

Runs `worker.run_worker` (the same workflows, activities and adapters) with one interceptor
more, `HoldAtStage`, which does nothing unless the hold directory names an activity.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from closeout.settings import Settings
from tests.faults.holds import HoldAtStage
from worker import run_worker

HOLDS_ENV = "CLOSEOUT_FAULT_HOLDS"

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    holds = Path(os.environ[HOLDS_ENV])
    asyncio.run(run_worker(Settings(), interceptors=[HoldAtStage(holds)]))
