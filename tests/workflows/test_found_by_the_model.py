"""Examples the model-based test of the case (tests/model) found and shrank, kept as tests."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError

from closeout.contracts import ReactivateRequest, RetentionPeriodsChange
from closeout.crm.reference import ReferenceCrm
from closeout.domain import DataCategory, Outcome, Stage, TaskKind
from tests.conftest import YEAR
from tests.workflows.conftest import COMPLIANCE, OWNER_ACTOR, Harness
from workflows.close_customer import CloseCustomerWorkflow


async def test_a_policy_naming_only_some_categories_loses_nothing(harness: Harness) -> None:
    """Periods for one category, sent to a case before its archive: the case archived under
    them split its backup into that category's bundle only and dropped the rest, so the
    minimised records were gone before any deletion and a reactivation could not restore
    them. A changed policy names every category (or none): one that does not is refused."""
    customer = harness.add_customer()
    handle = await harness.start(customer)
    await harness.task(handle, TaskKind.WIN_BACK)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            CloseCustomerWorkflow.apply_retention_periods,
            RetentionPeriodsChange(
                "standard", {DataCategory.CONTRACTS: 3 * YEAR}, "counsel's advice", COMPLIANCE
            ),
        )
    assert getattr(refused.value.cause, "type", "") == "InvalidRequest"
    await harness.approve_closure(handle)
    await harness.stage(handle, Stage.RETENTION)
    result = await handle.execute_update(
        CloseCustomerWorkflow.reactivate, ReactivateRequest("came back", OWNER_ACTOR)
    )
    assert result.outcome is Outcome.REACTIVATED
    held = ReferenceCrm(harness.db).remaining_records(customer)
    assert all(held.get(table, 0) > 0 for table in ("interactions", "portal_users")), held
