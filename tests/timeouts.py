"""A test that hangs fails with what it was waiting for.

pytest-timeout (its `signal` method, set in pyproject.toml) fails a test that runs past its
time and prints every thread's stack; for a test on the event loop that shows only the loop
waiting. This timer prints, before that, the stack of every task on the running loop: the
call to the server or the poll that never answered.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from types import FrameType
from typing import Any

import pytest
import pytest_timeout


def _print_tasks() -> None:
    loop = asyncio._get_running_loop()
    if loop is None:
        return
    tasks = asyncio.all_tasks(loop)
    print(f"\n+++ {len(tasks)} task(s) on the event loop +++", file=sys.stderr)
    for task in tasks:
        task.print_stack(file=sys.stderr)


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return None  # pytest-timeout's own timer

    def handler(signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True
        _print_tasks()
        pytest_timeout.timeout_sigalrm(item, settings)

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # read by pytest-timeout
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True
