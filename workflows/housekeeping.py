"""HousekeepingWorkflow: one short run per schedule tick."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.expired_data import HousekeepingActivities
    from activities.staff_notices import StaffActivities
    from closeout.contracts import PurgeRequest, PurgeResult
    from workflows.options import BATCH, SWEEP


# Deleted customers found again (a restored copy) are deleted again, every run.
PATCH_SUPPRESSION = "suppression-enforcement"
# Legal holds whose review date has come are brought to the compliance officers.
PATCH_HOLD_REVIEWS = "hold-review-reminders"
# Deleted customers' case histories lose their key once their workflow has closed.
PATCH_HISTORY_SHREDDING = "history-shredding"


@workflow.defn
class HousekeepingWorkflow:
    """Remove expired data exports and customers the suppression ledger says are deleted;
    remind compliance of legal holds due for review; shred deleted customers' histories."""

    @workflow.run
    async def run(self) -> PurgeResult:
        purged = await workflow.execute_activity_method(
            HousekeepingActivities.purge_expired_exports,
            PurgeRequest(workflow.now()),
            **BATCH,
        )
        if workflow.patched(PATCH_SUPPRESSION):
            await workflow.execute_activity_method(
                HousekeepingActivities.enforce_suppression,
                PurgeRequest(workflow.now()),
                **SWEEP,
            )
        if workflow.patched(PATCH_HOLD_REVIEWS):
            await workflow.execute_activity_method(
                StaffActivities.remind_hold_reviews,
                PurgeRequest(workflow.now()),
                **BATCH,
            )
        if workflow.patched(PATCH_HISTORY_SHREDDING):
            await workflow.execute_activity_method(
                HousekeepingActivities.shred_deleted_histories,
                PurgeRequest(workflow.now()),
                **SWEEP,
            )
        return purged
