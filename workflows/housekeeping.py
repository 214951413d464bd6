"""HousekeepingWorkflow: one short run per schedule tick."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.expired_data import HousekeepingActivities
    from closeout.contracts import PurgeRequest, PurgeResult


@workflow.defn
class HousekeepingWorkflow:
    """Remove expired data exports (and, later, whatever else expires)."""

    @workflow.run
    async def run(self) -> PurgeResult:
        return await workflow.execute_activity_method(
            HousekeepingActivities.purge_expired_exports,
            PurgeRequest(workflow.now()),
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
        )
