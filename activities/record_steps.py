"""The record steps of a case, on the reference CRM and every connected data system at once:
back up, check the backup, archive (minimise), restore on return, delete, and verify that
nothing is left anywhere before the certificate is issued."""

from __future__ import annotations

import json
from uuid import NAMESPACE_URL, uuid5

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.metrics import Counted, tally
from activities.outcomes import connector_failure, erasure_of, permanent, with_details
from closeout.archive import (
    ArchiveStore,
    BundleCorrupt,
    build_bundle,
    customer_keys,
    read_bundle,
)
from closeout.cases.erasure import CustomerWords
from closeout.cases.repository import CaseRepository
from closeout.certificates.repository import CertificateError, Certificates
from closeout.connectors.access import (
    CRM_ACCESS,
    AccessProvider,
    grants_left,
    restore_everywhere,
)
from closeout.connectors.data import DataSystem
from closeout.connectors.errors import ConnectorError
from closeout.connectors.records import (
    delete_everywhere,
    export_everywhere,
    minimise_everywhere,
    records_left,
    restore_records,
    table_name,
)
from closeout.contracts import BackupResult, CustomerStep
from closeout.crm.port import CustomerNotFound, CustomerSource, CustomerSuppressed
from closeout.crypto.data_keys import ARCHIVE_SCOPE, OUTBOX_SCOPE, KeyDestroyed
from closeout.crypto.envelope import Unreadable
from closeout.crypto.vault import ArchiveVault, category_scope
from closeout.domain import CustomerStatus, DataCategory
from closeout.suppression.ledger import SuppressionLedger

# Where verification looks for a deleted customer; each connected data system after "crm".
STORES_CHECKED = (
    "crm",
    "archive",
    "exports",
    "outbox",
    "data_keys",
    "read_model_free_text",
    "suppression_ledger",
)


def removed_by_system(data: list[DataSystem], deleted: dict[str, dict[str, int]]) -> dict[str, int]:
    """Each system's deleted rows by table, named as exports name them."""
    named: dict[str, int] = {}
    for system in data:
        named |= {table_name(system, t): n for t, n in deleted.get(system.name, {}).items()}
    return named


class RecordSteps:
    """Part of `CloseoutActivities`: the data systems (`data`, the CRM first), the archive,
    keys, ledger and certificates."""

    access: list[AccessProvider]
    data: list[DataSystem]
    source: CustomerSource
    cases: CaseRepository
    vault: ArchiveVault
    archive: ArchiveStore
    certificates: Certificates
    ledger: SuppressionLedger
    words: CustomerWords

    def _connected_access(self) -> list[AccessProvider]:
        return [p for p in self.access if p.name != CRM_ACCESS]

    def stores_checked(self) -> list[str]:
        """What the verification looked in: each data system (the reference CRM first, when
        it holds the company's customers) and connected access provider, then Closeout's own
        stores."""
        systems = [s.name for s in self.data]
        systems += [p.name for p in self._connected_access()]
        return [*systems, *STORES_CHECKED[1:]]

    # ------------------------------------------------------------------ backup

    @activity.defn
    def backup_customer_data(self, step: CustomerStep) -> BackupResult:
        """Export every record of the customer, in the CRM and every connected data system,
        into one bundle in the archive store."""
        if step.bundle_id is None:
            raise permanent("backup needs a bundle id", "InvalidInput")
        try:
            export = export_everywhere(self.data, step.customer_id)
        except ConnectorError as exc:
            raise connector_failure(exc) from exc
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
        """Mark the customer closed and remove from every data system what retention does not
        need."""
        try:
            self.source.set_status(step.customer_id, CustomerStatus.CLOSED)
        except CustomerNotFound as exc:
            raise permanent(str(exc), "UnknownCustomer") from exc
        try:
            removed = minimise_everywhere(self.data, step.customer_id)
        except ConnectorError as exc:
            raise connector_failure(exc) from exc
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
            try:
                counts = restore_records(self.data, export)
            except ConnectorError as exc:
                raise connector_failure(exc) from exc
            except CustomerSuppressed as exc:
                raise permanent(str(exc), "CustomerSuppressed") from exc
            for table, count in counts.items():
                restored[table] = restored.get(table, 0) + count
        if not bundles and self.source.get_profile(step.customer_id) is None:
            raise permanent("archive bundle and customer are both gone", "BundleMissing")
        try:
            regranted = restore_everywhere(self.access, step.customer_id)
        except ConnectorError as exc:
            raise connector_failure(exc) from exc
        self.source.set_status(step.customer_id, CustomerStatus.ACTIVE)
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
        """Delete the customer's records from every data system and the archive store."""
        # Named for good first: should a system fail part-way, nothing can restore the
        # customer (nor a restored database copy bring them back) while the step is retried.
        self.ledger.suppress(step.customer_id, step.case_id, step.audit.at)
        try:
            deleted = delete_everywhere(self.data, step.customer_id, list(DataCategory))
        except ConnectorError as exc:
            raise connector_failure(exc) from exc
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
        self.certificates.record_deletion(
            str(uuid5(NAMESPACE_URL, f"closeout:deletion:{step.audit.event_id}")),
            step.case_id,
            list(step.categories) or [c.value for c in DataCategory],
            {
                **deleted,
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
            **removed_by_system(self.data, deleted),
            "archive_bundles": bundles,
            "data_keys_destroyed": keys,
            "outbox_addresses": addresses,
            "audit_contents": len(erased),
            "free_text_fields": sum(words.values()),
        }
        self.cases.append_audit(step.case_id, with_details(step.audit, removed=removed))
        tally(Counted.DELETIONS, scope="customer")
        return removed

    @activity.defn
    def verify_deletion(self, step: CustomerStep) -> None:
        """Look for the customer in every store; only when nothing remains, certify it."""
        if not self.cases.db.release_freed_pages():
            # Retried: a long reader keeps the old pages in the write-ahead log a while.
            tally(Counted.DELETION_VERIFICATION_FAILURES, reason="PagesNotReleased")
            raise ApplicationError(
                "the database's write-ahead log is in use; deleted pages not yet released",
                type="PagesNotReleased",
            )
        try:
            remaining = records_left(self.data, step.customer_id)
            # The CRM's own grants went with its rows; a connected provider keeps its users.
            access = grants_left(self._connected_access(), step.customer_id)
        except ConnectorError as exc:
            raise connector_failure(exc) from exc
        bundles = customer_keys(self.archive, step.customer_id)
        addresses = self.cases.outbox_addresses(step.customer_id)
        # The outbox key outlives the deletion only until the last message written ahead of
        # it is sent, which comes before this check.
        keys = self.vault.keys.live(step.customer_id) + self.vault.keys.live(
            step.customer_id, OUTBOX_SCOPE
        )
        words = self.words.remaining(step.customer_id)
        if remaining or access or bundles or addresses or keys or words:
            tally(Counted.DELETION_VERIFICATION_FAILURES, reason="DeletionIncomplete")
            # Names columns and counts only: never the words found.
            raise ApplicationError(
                f"records remain after deletion: records={remaining} access={access} "
                f"archive_bundles={len(bundles)} outbox_addresses={addresses} data_keys={keys} "
                f"free_text={words}",
                type="DeletionIncomplete",
            )
        if not self.ledger.is_suppressed(step.customer_id):
            tally(Counted.DELETION_VERIFICATION_FAILURES, reason="NotSuppressed")
            raise ApplicationError(
                "the suppression ledger does not name the deleted customer",
                type="DeletionIncomplete",
            )
        try:
            certificate = self.certificates.issue(
                step.case_id, self.stores_checked(), step.audit.at
            )
            issued: dict[str, str | None] = {
                "certificate_id": certificate.id,
                "certificate_sha256": certificate.body_sha256,
            }
        except CertificateError:
            # Deleted before deletions were recorded: verified, but nothing to certify from.
            issued = {"certificate_id": None}
        self.cases.append_audit(
            step.case_id, with_details(step.audit, stores_checked=self.stores_checked(), **issued)
        )

    @activity.defn
    def prepare_data_export(self, step: CustomerStep) -> int:
        """The customer's own copy of every record, kept for download behind a signed link."""
        if step.bundle_id is None:
            raise permanent("an export needs an id", "InvalidInput")
        profile = self.source.get_profile(step.customer_id)
        if profile is not None and profile.status == CustomerStatus.RESTRICTED:
            raise permanent(
                "the customer is restricted: their retained data goes to compliance only",
                "Restricted",
            )
        try:
            export = export_everywhere(self.data, step.customer_id)
        except ConnectorError as exc:
            raise connector_failure(exc) from exc
        data = json.dumps(export.tables, ensure_ascii=False, indent=2).encode()
        self.vault.put_export(step.customer_id, step.bundle_id, data)
        self.cases.append_audit(
            step.case_id, with_details(step.audit, export_id=step.bundle_id, bytes=len(data))
        )
        return len(data)
