"""The worker's heartbeats for activities that run under a heartbeat timeout."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)


class HeartbeatWhileRunning(Interceptor):
    """Heartbeats every running activity whose options carry a heartbeat timeout, three times
    per timeout: a worker lost mid-step is noticed within the timeout, and a long step (a large
    export, a verification reading back a large bundle) is never taken for a lost one."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Heartbeating(next)


class _Heartbeating(ActivityInboundInterceptor):
    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        # The outbound heartbeat runs on the worker's event loop for sync activities too; the
        # activity's own `activity.heartbeat` is rebound for its thread and must not be used here.
        self._outbound = outbound
        super().init(outbound)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        timeout = activity.info().heartbeat_timeout
        if not timeout:
            return await self.next.execute_activity(input)
        beating = asyncio.create_task(self._beat(timeout / 3))
        try:
            return await self.next.execute_activity(input)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _beat(self, every: timedelta) -> None:
        while True:
            await asyncio.sleep(every.total_seconds())
            self._outbound.heartbeat()
