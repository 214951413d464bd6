"""The close-customer activities. Each is idempotent: a retry after success changes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import NAMESPACE_URL, uuid5

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.access_steps import AccessSteps
from activities.outcomes import connector_failure, erasure_of, permanent, with_details
from closeout.archive import (
    BundleCorrupt,
    build_bundle,
    customer_keys,
    read_bundle,
)
from closeout.cases.erasure import CustomerWords
from closeout.cases.repository import CaseRepository
from closeout.certificates.repository import CertificateError, Certificates
from closeout.connectors.access import AccessProvider, restore_everywhere
from closeout.connectors.errors import ConnectorError
from closeout.contracts import (
    BackupResult,
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
from closeout.crm.models import MINIMISED_TABLES, RESTORED_TABLES
from closeout.crm.port import CrmPort, CustomerNotFound
from closeout.crypto.data_keys import ARCHIVE_SCOPE, OUTBOX_SCOPE, KeyDestroyed
from closeout.crypto.envelope import Unreadable
from closeout.crypto.vault import ArchiveVault, category_scope
from closeout.domain import CustomerStatus, DataCategory
from closeout.settings import Settings
from closeout.suppression.ledger import SuppressionLedger

# Where verification looks for a deleted customer.
STORES_CHECKED = (
    "crm",
    "archive",
    "exports",
    "outbox",
    "data_keys",
    "read_model_free_text",
    "suppression_ledger",
)


class CloseoutActivities(AccessSteps):
    """Activities bound to their ports; built once by the worker."""

    def __init__(
        self,
        settings: Settings,
        crm: CrmPort,
        cases: CaseRepository,
        vault: ArchiveVault,
        certificates: Certificates,
        ledger: SuppressionLedger,
        access: Sequence[AccessProvider],
    ) -> None:
        # What lets customers in: the CRM's own grants, and each connected identity provider.
        self.access = list(access)
        self.certificates = certificates
        self.ledger = ledger
        self.settings = settings
        self.crm = crm
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
        profile = self.crm.get_profile(req.customer_id)
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
        profile = self.crm.get_profile(opened.case.customer_id)
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
            self.crm.set_status(change.customer_id, change.status)
        except CustomerNotFound as exc:
            raise permanent(str(exc), "UnknownCustomer") from exc
        self.cases.append_audit(change.case_id, change.audit)

    # ------------------------------------------------------------------ backup

    @activity.defn
    def backup_customer_data(self, step: CustomerStep) -> BackupResult:
        """Export every CRM record of the customer into one bundle in the archive store."""
        if step.bundle_id is None:
            raise permanent("backup needs a bundle id", "InvalidInput")
        try:
            export = self.crm.export_customer(step.customer_id)
        except CustomerNotFound as exc:
            raise permanent(str(exc), "UnknownCustomer") from exc
        activity.heartbeat("exported")
        bundle = build_bundle(export)
        location = self.vault.put_bundle(step.customer_id, step.bundle_id, bundle.data)
        activity.heartbeat("stored")
        result = BackupResult(
            bundle_id=step.bundle_id,
            location=location,
            manifest_sha256=bundle.manifest_sha256,
            size_bytes=len(bundle.data),
            record_counts=export.counts(),
        )
        self.cases.record_bundle(step.case_id, step.customer_id, result)
        self.cases.append_audit(
            step.case_id,
            with_details(
                step.audit,
                bundle_id=step.bundle_id,
                manifest_sha256=bundle.manifest_sha256,
                record_counts=export.counts(),
            ),
        )
        return result

    @activity.defn
    def verify_backup(self, step: CustomerStep) -> None:
        """Read the bundle back and check every checksum before anything is removed."""
        assert step.bundle_id is not None
        record = self.cases.bundle(step.bundle_id)
        try:
            data = self.vault.get_bundle(step.customer_id, step.bundle_id)
            if record is None or data is None:
                raise ApplicationError("the archive bundle is missing", type="BundleMissing")
            export = read_bundle(data, record.manifest_sha256)
        except (BundleCorrupt, Unreadable, KeyDestroyed) as exc:
            raise ApplicationError(
                f"archive bundle failed verification: {exc}", type="BundleCorrupt"
            ) from exc
        if export.counts() != record.record_counts:
            raise ApplicationError("archive bundle record counts differ", type="BundleCorrupt")
        self.cases.mark_bundle(step.bundle_id, verified=True)
        self.cases.append_audit(step.case_id, with_details(step.audit, bundle_id=step.bundle_id))

    # ------------------------------------------------------------------ archive and after

    @activity.defn
    def archive_customer(self, step: CustomerStep) -> dict[str, int]:
        """Mark the customer closed and remove from the CRM what retention does not need."""
        try:
            self.crm.set_status(step.customer_id, CustomerStatus.CLOSED)
            removed = self.crm.minimise(step.customer_id, MINIMISED_TABLES)
        except CustomerNotFound as exc:
            raise permanent(str(exc), "UnknownCustomer") from exc
        self.cases.append_audit(step.case_id, with_details(step.audit, minimised=removed))
        return removed

    @activity.defn
    def restore_customer(self, step: CustomerStep) -> dict[str, int]:
        """Reactivation: restore the minimised records from the archive (the whole backup,
        or what is left of its categories) and re-grant access."""
        bundles = self.cases.live_bundles(step.case_id)
        restored: dict[str, int] = {}
        for record in bundles:
            scope = category_scope(record.category) if record.category else ARCHIVE_SCOPE
            data = self.vault.get_bundle(step.customer_id, record.id, scope)
            if data is None:
                continue
            export = read_bundle(data, record.manifest_sha256)
            for table, count in self.crm.restore(export, RESTORED_TABLES).items():
                restored[table] = restored.get(table, 0) + count
        if not bundles and self.crm.get_profile(step.customer_id) is None:
            raise permanent("archive bundle and customer are both gone", "BundleMissing")
        try:
            regranted = restore_everywhere(self.access, step.customer_id)
        except ConnectorError as exc:
            raise connector_failure(exc) from exc
        self.crm.set_status(step.customer_id, CustomerStatus.ACTIVE)
        # The live CRM holds the customer again: the archive copies have no purpose left.
        for record in bundles:
            self.vault.delete_bundle(step.customer_id, record.id)
            self.cases.mark_bundle(record.id, deleted=True)
        self.cases.append_audit(
            step.case_id, with_details(step.audit, restored=restored, **regranted)
        )
        return {**restored, **regranted}

    @activity.defn
    def delete_customer_data(self, step: CustomerStep) -> dict[str, int]:
        """Delete the customer's records from the CRM and the archive store."""
        crm = self.crm.delete_customer(step.customer_id)
        bundles = 0
        for key in customer_keys(self.archive, step.customer_id):
            bundles += int(self.archive.delete(key))
        # Every bundle of the case went with the store's files: the whole backup and the
        # categories' bundles still kept until now.
        for record in self.cases.live_bundles(step.case_id):
            self.cases.mark_bundle(record.id, deleted=True)
        if step.bundle_id is not None:
            self.cases.mark_bundle(step.bundle_id, deleted=True)
        # Destroying the data key makes any copy of the bundles (backups) unreadable.
        keys = self.vault.shred(step.customer_id)
        erased = self.cases.erase_customer_audit(step.customer_id, erasure_of(step.audit))
        words = self.words.erase(step.customer_id)
        addresses = self.cases.scrub_recipients(step.customer_id)
        # Named for good: a restored database copy cannot bring the customer back.
        self.ledger.suppress(step.customer_id, step.case_id, step.audit.at)
        self.certificates.record_deletion(
            str(uuid5(NAMESPACE_URL, f"closeout:deletion:{step.audit.event_id}")),
            step.case_id,
            list(step.categories) or [c.value for c in DataCategory],
            {
                "crm": crm,
                "archive": {"bundles": bundles},
                "data_keys": {"destroyed": keys},
                "outbox": {"addresses": addresses},
                "audit": {"contents_erased": len(erased)},
                "read_model": words,
                "suppression_ledger": {"customers_named": 1},
            },
            step.audit.at,
        )
        removed = {
            **crm,
            "archive_bundles": bundles,
            "data_keys_destroyed": keys,
            "outbox_addresses": addresses,
            "audit_contents": len(erased),
            "free_text_fields": sum(words.values()),
        }
        self.cases.append_audit(step.case_id, with_details(step.audit, removed=removed))
        return removed

    @activity.defn
    def verify_deletion(self, step: CustomerStep) -> None:
        """Look for the customer in every store; only when nothing remains, certify it."""
        if not self.cases.db.release_freed_pages():
            # Retried: a long reader keeps the old pages in the write-ahead log a while.
            raise ApplicationError(
                "the database's write-ahead log is in use; deleted pages not yet released",
                type="PagesNotReleased",
            )
        remaining = self.crm.remaining_records(step.customer_id)
        bundles = customer_keys(self.archive, step.customer_id)
        addresses = self.cases.outbox_addresses(step.customer_id)
        # The outbox key outlives the deletion only until the last message written ahead of
        # it is sent, which comes before this check.
        keys = self.vault.keys.live(step.customer_id) + self.vault.keys.live(
            step.customer_id, OUTBOX_SCOPE
        )
        words = self.words.remaining(step.customer_id)
        if remaining or bundles or addresses or keys or words:
            # Names columns and counts only: never the words found.
            raise ApplicationError(
                f"records remain after deletion: crm={remaining} "
                f"archive_bundles={len(bundles)} outbox_addresses={addresses} data_keys={keys} "
                f"free_text={words}",
                type="DeletionIncomplete",
            )
        if not self.ledger.is_suppressed(step.customer_id):
            raise ApplicationError(
                "the suppression ledger does not name the deleted customer",
                type="DeletionIncomplete",
            )
        try:
            certificate = self.certificates.issue(step.case_id, STORES_CHECKED, step.audit.at)
            issued: dict[str, str | None] = {
                "certificate_id": certificate.id,
                "certificate_sha256": certificate.body_sha256,
            }
        except CertificateError:
            # Deleted before deletions were recorded: verified, but nothing to certify from.
            issued = {"certificate_id": None}
        self.cases.append_audit(
            step.case_id, with_details(step.audit, stores_checked=list(STORES_CHECKED), **issued)
        )

    @activity.defn
    def prepare_data_export(self, step: CustomerStep) -> int:
        """The customer's own copy of every record, kept for download behind a signed link."""
        if step.bundle_id is None:
            raise permanent("an export needs an id", "InvalidInput")
        profile = self.crm.get_profile(step.customer_id)
        if profile is not None and profile.status == CustomerStatus.RESTRICTED:
            raise permanent(
                "the customer is restricted: their retained data goes to compliance only",
                "Restricted",
            )
        try:
            export = self.crm.export_customer(step.customer_id)
        except CustomerNotFound as exc:
            raise permanent(str(exc), "UnknownCustomer") from exc
        data = json.dumps(export.tables, ensure_ascii=False, indent=2).encode()
        self.vault.put_export(step.customer_id, step.bundle_id, data)
        self.cases.append_audit(
            step.case_id, with_details(step.audit, export_id=step.bundle_id, bytes=len(data))
        )
        return len(data)

    @activity.defn
    def compensate_closure(self, step: CustomerStep) -> dict[str, int]:
        """Undo what a cancelled case did: the customer is active again, no archive copy left."""
        profile = self.crm.get_profile(step.customer_id)
        restored_status = 0
        if profile is not None and profile.status != CustomerStatus.ACTIVE:
            self.crm.set_status(step.customer_id, CustomerStatus.ACTIVE)
            restored_status = 1
        bundles = 0
        if step.bundle_id is not None:
            bundles = int(self.vault.delete_bundle(step.customer_id, step.bundle_id))
            self.cases.mark_bundle(step.bundle_id, deleted=True)
        result = {"status_restored": restored_status, "archive_bundles_removed": bundles}
        self.cases.append_audit(step.case_id, with_details(step.audit, **result))
        return result
