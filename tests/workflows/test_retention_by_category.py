"""Retention by data category on the time-skipping server: each category deleted when its own
period ends, holds stopping all of it, the restricted state, reactivation from what is left."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError

from api.adapters import ApiAdapters
from api.compliance_service import ComplianceService
from api.policy_service import PolicyService
from api.temporal_gateway import TemporalGateway
from closeout.archive import archive_store_from
from closeout.cases.models import ArchiveBundleRecord
from closeout.certificates.repository import Certificates
from closeout.contracts import (
    Actor,
    CaseResult,
    CaseStatus,
    CustomerAnswer,
    HoldReleaseRequest,
    HoldRequest,
    ReactivateRequest,
    RetentionChange,
)
from closeout.crm.reference import ReferenceCrm
from closeout.crypto.data_keys import ARCHIVE_SCOPE, WORDS_SCOPE, DataKeys
from closeout.crypto.vault import key_ring
from closeout.domain import CustomerResponse, DataCategory, Outcome, Role, Stage, TaskKind
from closeout.policy_config import STANDARD_POLICY
from closeout.settings import Settings
from closeout.tokens import Principal
from tests.conftest import BY_CATEGORY, YEAR
from tests.support import eventually
from tests.workflows.conftest import COMPLIANCE, OWNER_ACTOR, Harness
from workflows.close_customer import CloseCustomerWorkflow

POLICY = "by-category"
C = DataCategory


async def _async(value: bool) -> bool:
    return value


def deleted(status: CaseStatus) -> set[DataCategory]:
    return {c.category for c in status.category_clocks if c.deleted_at is not None}


async def until_deleted(harness: Harness, handle: object, *categories: DataCategory) -> CaseStatus:
    async def done() -> CaseStatus | None:
        status = await harness.status(handle)  # type: ignore[arg-type]
        return status if set(categories) <= deleted(status) else None

    return await eventually(done, what=f"{categories} deleted")


async def test_each_category_is_deleted_when_its_own_period_ends(harness: Harness) -> None:
    customer = harness.add_customer()
    crm = ReferenceCrm(harness.db)
    store = archive_store_from(harness.settings)
    handle = await harness.start(customer, policy=POLICY)
    await harness.approve_closure(handle)
    status = await harness.stage(handle, Stage.RETENTION)
    archived_at = status.category_clocks[0].ends_at  # marketing data: no retention at all
    ends = {c.category: c.ends_at - archived_at for c in status.category_clocks}
    assert ends == BY_CATEGORY.category_retention
    assert status.retention_end == archived_at + 7 * YEAR
    # Restricted: stored, not processed. One sealed bundle per category, the backup gone.
    assert crm.get_profile(customer).status == "restricted"  # type: ignore[union-attr]
    with harness.db.session() as session:
        bundles = session.exec(
            select(ArchiveBundleRecord).where(ArchiveBundleRecord.customer_id == customer)
        ).all()
    assert sorted(b.category for b in bundles if b.category) == sorted(C)
    assert [b.deleted_at is not None for b in bundles if b.category is None] == [True]
    await until_deleted(harness, handle, C.MARKETING_DATA)
    assert len(store.keys(f"{customer}/")) == len(C) - 1
    keys = DataKeys(harness.db, key_ring(harness.settings))
    assert keys.live(customer, ARCHIVE_SCOPE) == 0  # the split backup's key went with it
    # The categories' keys but the deleted one's, and the key of the customer's words.
    assert keys.live(customer) == len(C) - 1 + 1
    assert keys.live(customer, WORDS_SCOPE) == 1

    await harness.env.sleep(timedelta(days=91))
    status = await until_deleted(harness, handle, C.CONTACT_DATA)
    held = crm.remaining_records(customer)
    assert "contacts" not in held and held["invoices"] > 0 and held["orders"] > 0
    assert len(store.keys(f"{customer}/")) == len(C) - 2
    # The customer is told, while the address still exists, what went and what stays.
    confirmation = [m for m in harness.mail.messages if "has been deleted" in str(m["Subject"])]
    assert len(confirmation) == 1
    assert "used for nothing else, until" in harness.mail.parts(confirmation[0])["text/plain"]
    # Restricted: the customer's own export is refused; compliance gets what is kept.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            CloseCustomerWorkflow.respond,
            CustomerAnswer(
                CustomerResponse.DOWNLOAD_DATA, Actor("customer", "customer"), link_id="link-1"
            ),
        )
    assert "no longer applies" in str(refused.value.cause)
    adapters = ApiAdapters.build(harness.settings, harness.db)
    kept = ComplianceService(adapters).retained_data(
        status.case_id, Principal("kim", Role.COMPLIANCE_OFFICER)
    )
    assert kept["tables"]["invoices"] and "contacts" not in kept["tables"]
    assert sorted(kept["categories"]) == sorted(
        [C.INTERACTION_HISTORY, C.CONTRACTS, C.ACCOUNTING_RECORDS]
    )
    assert "retained_data_exported" in harness.actions(status.case_id)

    await harness.env.sleep(YEAR)
    await until_deleted(harness, handle, C.INTERACTION_HISTORY)
    await harness.env.sleep(2 * YEAR)
    status = await until_deleted(harness, handle, C.CONTRACTS)
    assert status.stage is Stage.RETENTION and "subscriptions" not in crm.remaining_records(
        customer
    )
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.DELETED
    assert crm.remaining_records(customer) == {} and store.keys(f"{customer}/") == []
    # The read model says so too: no bundle of the case is left standing.
    assert harness.cases.live_bundles(result.case_id) == []
    certificate = Certificates(harness.db, harness.settings.record_keys()).for_case(result.case_id)
    assert certificate is not None
    steps = [d["categories"] for d in certificate.body["deletions"]]
    assert steps == [
        ["marketing_data"],
        ["contact_data"],
        ["interaction_history"],
        ["contracts"],
        ["accounting_records"],
    ]
    # One confirmation only: it was sent when the contact data went.
    assert len([m for m in harness.mail.messages if "has been deleted" in str(m["Subject"])]) == 1


def test_default_periods_per_jurisdiction() -> None:
    cn, de, other = (STANDARD_POLICY.periods_for(c) for c in ("CN", "de", None))
    assert cn is not None and de is not None and other is not None
    assert cn[C.ACCOUNTING_RECORDS] == 30 * YEAR and de[C.CONTRACTS] == 6 * YEAR
    assert other[C.MARKETING_DATA] == timedelta(0) and other[C.ACCOUNTING_RECORDS] == 10 * YEAR
    one_period = STANDARD_POLICY.model_copy(update={"category_retention": {}, "jurisdictions": {}})
    assert one_period.periods_for("CN") is None


async def test_the_customers_jurisdiction_sets_the_periods(harness: Harness) -> None:
    handle = await harness.start(harness.add_customer(locale="zh-CN"), policy=POLICY)
    await harness.approve_closure(handle)
    status = await harness.stage(handle, Stage.RETENTION)
    clocks = {c.category: c.ends_at for c in status.category_clocks}
    assert clocks[C.ACCOUNTING_RECORDS] - clocks[C.MARKETING_DATA] == 9 * YEAR
    assert clocks[C.CONTACT_DATA] - clocks[C.MARKETING_DATA] == timedelta(days=90)
    await handle.terminate("test over")


async def test_a_hold_keeps_every_category_until_released(harness: Harness) -> None:
    customer = harness.add_customer()
    crm = ReferenceCrm(harness.db)
    handle = await harness.start(customer, policy=POLICY)
    await harness.approve_closure(handle)
    await harness.stage(handle, Stage.RETENTION)
    now = await harness.env.get_current_time()
    with pytest.raises(WorkflowUpdateFailedError) as past:
        await handle.execute_update(
            CloseCustomerWorkflow.place_legal_hold,
            HoldRequest("litigation", COMPLIANCE, review_at=now - timedelta(days=1)),
        )
    assert "review date must lie in the future" in str(past.value.cause)
    placed = await handle.execute_update(
        CloseCustomerWorkflow.place_legal_hold,
        HoldRequest("litigation", COMPLIANCE, review_at=now + YEAR),
    )
    await harness.env.sleep(8 * YEAR)
    status = await harness.status(handle)
    assert status.stage is Stage.RETENTION and deleted(status) <= {C.MARKETING_DATA}
    assert crm.remaining_records(customer)["contacts"] > 0
    assert placed.hold_id is not None
    await handle.execute_update(
        CloseCustomerWorkflow.release_legal_hold,
        HoldReleaseRequest(placed.hold_id, "settled", COMPLIANCE),
    )
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.DELETED and crm.remaining_records(customer) == {}


async def test_one_categorys_end_moves_and_reactivation_restores_what_is_left(
    harness: Harness,
) -> None:
    customer = harness.add_customer()
    crm = ReferenceCrm(harness.db)
    handle = await harness.start(customer, policy=POLICY)
    await harness.approve_closure(handle)
    status = await harness.stage(handle, Stage.RETENTION)
    now = await harness.env.get_current_time()
    await handle.execute_update(
        CloseCustomerWorkflow.change_retention,
        RetentionChange(now + timedelta(days=2), "no claims expected", COMPLIANCE, C.CONTRACTS),
    )
    await harness.env.sleep(timedelta(days=3))
    status = await until_deleted(harness, handle, C.CONTRACTS)
    assert C.INTERACTION_HISTORY not in deleted(status)
    assert "subscriptions" not in crm.remaining_records(customer)
    await handle.execute_update(
        CloseCustomerWorkflow.reactivate, ReactivateRequest("came back", OWNER_ACTOR)
    )
    result: CaseResult = await handle.result()
    assert result.outcome is Outcome.REACTIVATED
    held = crm.remaining_records(customer)
    assert held["interactions"] > 0 and held["contacts"] > 0 and "subscriptions" not in held
    assert crm.get_profile(customer).status == "active"  # type: ignore[union-attr]
    store = archive_store_from(harness.settings)
    assert store.keys(f"{customer}/") == []


async def test_a_customer_closed_again_after_a_reactivation_is_told_of_each_deletion(
    harness: Harness,
) -> None:
    """The first case's deletion confirmation was the last message written ahead, so the
    outbox key went with it; the customer came back, and their next case must still be able
    to write its own confirmation ahead (before, it failed on the destroyed key for ever)."""

    def confirmations() -> int:
        return sum("has been deleted" in str(m["Subject"]) for m in harness.mail.messages)

    customer = harness.add_customer()
    first = await harness.start(customer, policy=POLICY)
    await harness.approve_closure(first)
    await harness.stage(first, Stage.RETENTION)
    await harness.env.sleep(timedelta(days=91))
    await until_deleted(harness, first, C.CONTACT_DATA)
    assert confirmations() == 1
    await first.execute_update(
        CloseCustomerWorkflow.reactivate, ReactivateRequest("came back", OWNER_ACTOR)
    )
    assert (await first.result()).outcome is Outcome.REACTIVATED

    second = await harness.start(customer, policy=POLICY)
    await harness.approve_closure(second)
    await harness.stage(second, Stage.RETENTION)
    await harness.env.sleep(timedelta(days=91))
    await until_deleted(harness, second, C.CONTACT_DATA)
    await eventually(lambda: _async(confirmations() == 2), what="the second confirmation")


async def test_a_changed_policy_is_previewed_then_applied_to_running_cases(
    harness: Harness,
) -> None:
    archived = await harness.start(harness.add_customer(), policy=POLICY)
    await harness.approve_closure(archived)
    before = await harness.stage(archived, Stage.RETENTION)
    waiting = await harness.start(harness.add_customer(), policy=POLICY)
    await harness.task(waiting, TaskKind.WIN_BACK)
    shorter = {
        **BY_CATEGORY.category_retention,
        C.CONTACT_DATA: timedelta(days=30),
        C.ACCOUNTING_RECORDS: 5 * YEAR,
    }
    changed = BY_CATEGORY.model_copy(update={"category_retention": shorter})
    settings = Settings(**{**harness.settings.model_dump(), "policies": {POLICY: changed}})
    service = PolicyService(settings, harness.cases, TemporalGateway(settings, harness.client))

    preview = await service.changes(POLICY)
    assert preview.open_cases == 2 and preview.untouched == {}
    moves = {m.case_id: {x.category: x for x in m.moves} for m in preview.cases}
    start = before.retention_started_at
    assert start is not None
    contact = moves[before.case_id][C.CONTACT_DATA]
    assert (contact.ends_at, contact.new_ends_at) == (
        start + timedelta(days=90),
        start + timedelta(days=30),
    )
    assert set(moves[before.case_id]) == {C.CONTACT_DATA, C.ACCOUNTING_RECORDS}
    waiting_case = (await harness.status(waiting)).case_id
    periods = moves[waiting_case]
    assert (periods[C.ACCOUNTING_RECORDS].period, periods[C.ACCOUNTING_RECORDS].new_period) == (
        7 * YEAR,
        5 * YEAR,
    )
    # Nothing moved yet: it was a dry run.
    assert (await harness.status(archived)).retention_end == before.retention_end

    officer = Principal("kim", Role.COMPLIANCE_OFFICER)
    applied = await service.apply(POLICY, "tax counsel's advice of 2026", officer)
    assert applied.applied == 2
    after = await harness.status(archived)
    assert after.retention_end == start + 5 * YEAR
    assert (await harness.status(waiting)).category_retention == shorter
    await harness.env.sleep(timedelta(days=31))
    await until_deleted(harness, archived, C.CONTACT_DATA)
    assert (await service.changes(POLICY)).cases == []
    actions = harness.actions(before.case_id)
    assert "retention_policy_applied" in actions
    await archived.terminate("test over")
    await waiting.terminate("test over")
