"""The close-customer activities. Each is idempotent: a retry after success changes nothing."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import activity

from activities.access_steps import AccessSteps
from activities.outcomes import permanent, with_details
from activities.record_steps import RecordSteps
from closeout.cases.erasure import CustomerWords
from closeout.cases.repository import CaseRepository
from closeout.certificates.repository import Certificates
from closeout.connectors.access import AccessProvider
from closeout.connectors.data import DataSystem
from closeout.contracts import (
    CaseChange,
    CaseOpened,
    CaseTerms,
    CloseTask,
    CustomerStatusChange,
    CustomerStep,
    EvidenceAdded,
    HoldPlaced,
    HoldReleased,
    OpenTask,
    TaskReassigned,
    TermsRequest,
)
from closeout.crm.port import CustomerNotFound, CustomerSource
from closeout.crypto.vault import ArchiveVault
from closeout.domain import CustomerStatus
from closeout.settings import Settings
from closeout.suppression.ledger import SuppressionLedger


class CloseoutActivities(AccessSteps, RecordSteps):
    """Activities bound to their ports; built once by the worker."""

    def __init__(
        self,
        settings: Settings,
        source: CustomerSource,
        cases: CaseRepository,
        vault: ArchiveVault,
        certificates: Certificates,
        ledger: SuppressionLedger,
        access: Sequence[AccessProvider],
        data: Sequence[DataSystem],
    ) -> None:
        # What lets customers in: the CRM's own grants, and each connected identity provider.
        self.access = list(access)
        # What holds their records: the CRM's tables, and each connected data system.
        self.data = list(data)
        self.certificates = certificates
        self.ledger = ledger
        self.settings = settings
        self.source = source
        self.cases = cases
        self.vault = vault
        self.archive = vault.store
        self.words = CustomerWords(cases.db)

    # ------------------------------------------------------------------ case bookkeeping

    @activity.defn
    def resolve_case_terms(self, req: TermsRequest) -> CaseTerms:
        """Fix the policy's durations and the customer's owner and tier for this case."""
        policy = self.settings.available_policies.get(req.policy)
        if policy is None:
            raise permanent(f"unknown policy {req.policy!r}", "UnknownPolicy")
        profile = self.source.get_profile(req.customer_id)
        if profile is None:
            raise permanent(f"unknown customer {req.customer_id!r}", "UnknownCustomer")
        return CaseTerms(
            owner=profile.owner,
            value_tier=profile.value_tier,
            win_back_window=policy.win_back_window,
            notice_period=policy.notice_period,
            approval_due=policy.approval_due,
            retention=policy.retention,
            four_eyes=profile.value_tier in policy.four_eyes_tiers,
            reminder_before=policy.reminder_before,
            task_reminder_before=policy.task_reminder_before,
            deletion_confirmation=policy.deletion_confirmation,
            category_retention=policy.periods_for(profile.country),
            jurisdiction=profile.country,
            request_deadline=self.settings.request_deadline,
            request_extension_max=self.settings.request_extension_max,
            legal_categories=list(policy.legal_categories),
            request_identity_check=policy.request_identity_check,
            request_cooling_off=policy.request_cooling_off,
        )

    @activity.defn
    def record_case_opened(self, opened: CaseOpened) -> None:
        profile = self.source.get_profile(opened.case.customer_id)
        self.cases.record_case_opened(
            opened,
            owner=profile.owner if profile else None,
            value_tier=profile.value_tier if profile else None,
            country=profile.country if profile else None,
        )

    @activity.defn
    def record_case_change(self, change: CaseChange) -> None:
        self.cases.apply_case_change(change)

    @activity.defn
    def open_task(self, task: OpenTask) -> None:
        self.cases.open_task(task)

    @activity.defn
    def record_evidence(self, added: EvidenceAdded) -> None:
        self.cases.add_evidence(added)

    @activity.defn
    def reassign_task(self, change: TaskReassigned) -> None:
        self.cases.reassign_task(change)

    @activity.defn
    def close_task(self, close: CloseTask) -> None:
        self.cases.close_task(close)

    @activity.defn
    def record_hold_placed(self, hold: HoldPlaced) -> None:
        self.cases.record_hold_placed(hold)

    @activity.defn
    def record_hold_released(self, release: HoldReleased) -> None:
        self.cases.record_hold_released(release)

    @activity.defn
    def set_customer_status(self, change: CustomerStatusChange) -> None:
        try:
            self.source.set_status(change.customer_id, change.status)
        except CustomerNotFound as exc:
            raise permanent(str(exc), "UnknownCustomer") from exc
        self.cases.append_audit(change.case_id, change.audit)

    @activity.defn
    def compensate_closure(self, step: CustomerStep) -> dict[str, int]:
        """Undo what a cancelled case did: the customer is active again, no archive copy left."""
        profile = self.source.get_profile(step.customer_id)
        restored_status = 0
        if profile is not None and profile.status != CustomerStatus.ACTIVE:
            self.source.set_status(step.customer_id, CustomerStatus.ACTIVE)
            restored_status = 1
        bundles = 0
        if step.bundle_id is not None:
            bundles = int(self.vault.delete_bundle(step.customer_id, step.bundle_id))
            self.cases.mark_bundle(step.bundle_id, deleted=True)
        result = {"status_restored": restored_status, "archive_bundles_removed": bundles}
        self.cases.append_audit(step.case_id, with_details(step.audit, **result))
        return result
