"""Retention by data category: the archive split per category, and each category deleted
when its own period ends (the last one goes with the customer, in the deletion step)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import NAMESPACE_URL, uuid5

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.metrics import Counted, tally
from activities.outcomes import connector_failure, permanent, with_details
from activities.record_steps import removed_by_system
from closeout.archive import BundleCorrupt, build_bundle, read_bundle
from closeout.cases.repository import CaseRepository
from closeout.certificates.repository import Certificates
from closeout.connectors.data import DataSystem
from closeout.connectors.errors import ConnectorError
from closeout.connectors.records import category_part, delete_everywhere, records_left
from closeout.contracts import BackupResult, CustomerStep
from closeout.crypto.data_keys import ARCHIVE_SCOPE, KeyDestroyed
from closeout.crypto.envelope import Unreadable
from closeout.crypto.vault import ArchiveVault, category_scope
from closeout.domain import DataCategory


def category_bundle_id(bundle_id: str, category: DataCategory) -> str:
    """The id of one category's bundle, derived from the backup it was split from."""
    return str(uuid5(NAMESPACE_URL, f"closeout:bundle:{bundle_id}:{category}"))


def _categories(step: CustomerStep) -> list[DataCategory]:
    try:
        return [DataCategory(c) for c in step.categories]
    except ValueError as exc:
        raise permanent(str(exc), "InvalidInput") from exc


class RetentionActivities:
    def __init__(
        self,
        data: Sequence[DataSystem],
        cases: CaseRepository,
        vault: ArchiveVault,
        certificates: Certificates,
    ) -> None:
        # What holds the customers' records: the CRM's tables first, then each connected system.
        self.data = list(data)
        self.cases = cases
        self.vault = vault
        self.certificates = certificates

    @activity.defn
    def split_archive(self, step: CustomerStep) -> dict[str, int]:
        """One sealed bundle per data category, each under its own data key, each read back
        and checked; then the whole-customer backup goes (its data lives on in them)."""
        if step.bundle_id is None:
            raise permanent("splitting the archive needs the backup's bundle id", "InvalidInput")
        customer = step.customer_id
        record = self.cases.bundle(step.bundle_id)
        try:
            data = self.vault.get_bundle(customer, step.bundle_id)
            export = read_bundle(data, record.manifest_sha256 if record else None) if data else None
        except (BundleCorrupt, Unreadable, KeyDestroyed) as exc:
            raise ApplicationError(
                f"the backup cannot be read: {exc}", type="BundleCorrupt"
            ) from exc
        counts: dict[str, int] = {}
        for category in _categories(step):
            split_id = category_bundle_id(step.bundle_id, category)
            existing = self.cases.bundle(split_id)
            if existing is not None:  # split by an earlier attempt
                counts[category] = sum(existing.record_counts.values())
                continue
            if export is None:
                raise ApplicationError("the backup to split is gone", type="BundleMissing")
            part = category_part(export, self.data, category)
            bundle = build_bundle(part)
            scope = category_scope(category)
            location = self.vault.put_bundle(customer, split_id, bundle.data, scope)
            readback = self.vault.get_bundle(customer, split_id, scope)
            if readback is None or read_bundle(readback, bundle.manifest_sha256).counts() != (
                part.counts()
            ):
                raise ApplicationError(
                    "a category bundle failed verification", type="BundleCorrupt"
                )
            self.cases.record_bundle(
                step.case_id,
                customer,
                BackupResult(
                    split_id, location, bundle.manifest_sha256, len(bundle.data), part.counts()
                ),
                category=category,
            )
            self.cases.mark_bundle(split_id, verified=True)
            counts[category] = sum(part.counts().values())
        # The whole backup goes, and its key with it: a copy of it in a file backup would
        # otherwise keep every category readable past its own period.
        self.vault.delete_bundle(customer, step.bundle_id)
        self.cases.mark_bundle(step.bundle_id, deleted=True)
        destroyed = self.vault.shred(customer, ARCHIVE_SCOPE)
        self.cases.append_audit(
            step.case_id,
            with_details(step.audit, records=counts, backup_keys_destroyed=destroyed),
        )
        return counts

    @activity.defn
    def delete_categories(self, step: CustomerStep) -> dict[str, int]:
        """Delete the categories whose retention ended: their records in every data system,
        their bundles, and their data keys (so copies of those bundles in backups are
        unreadable)."""
        categories = _categories(step)
        try:
            deleted = delete_everywhere(self.data, step.customer_id, categories)
        except ConnectorError as exc:
            raise connector_failure(exc) from exc
        bundles = keys = 0
        for record in self.cases.live_bundles(step.case_id):
            if record.category in categories:
                bundles += int(self.vault.delete_bundle(step.customer_id, record.id))
                self.cases.mark_bundle(record.id, deleted=True)
        for category in categories:
            keys += self.vault.shred(step.customer_id, category_scope(category))
        self.certificates.record_deletion(
            str(uuid5(NAMESPACE_URL, f"closeout:deletion:{step.audit.event_id}")),
            step.case_id,
            [c.value for c in categories],
            {**deleted, "archive": {"bundles": bundles}, "data_keys": {"destroyed": keys}},
            step.audit.at,
        )
        removed = {
            **removed_by_system(self.data, deleted),
            "archive_bundles": bundles,
            "data_keys_destroyed": keys,
        }
        self.cases.append_audit(
            step.case_id,
            with_details(step.audit, categories=[c.value for c in categories], removed=removed),
        )
        tally(Counted.DELETIONS, scope="categories")
        return removed

    @activity.defn
    def verify_categories_deleted(self, step: CustomerStep) -> None:
        """Nothing of the deleted categories is left: no rows in any data system, no bundle,
        no live key."""
        categories = _categories(step)
        try:
            remaining = records_left(self.data, step.customer_id, categories)
        except ConnectorError as exc:
            raise connector_failure(exc) from exc
        bundles = [r.id for r in self.cases.live_bundles(step.case_id) if r.category in categories]
        keys = sum(self.vault.keys.live(step.customer_id, category_scope(c)) for c in categories)
        if remaining or bundles or keys:
            tally(Counted.DELETION_VERIFICATION_FAILURES, reason="DeletionIncomplete")
            raise ApplicationError(
                f"records remain after deleting {', '.join(categories)}: records={remaining} "
                f"archive_bundles={len(bundles)} data_keys={keys}",
                type="DeletionIncomplete",
            )
        self.cases.append_audit(
            step.case_id, with_details(step.audit, categories=[c.value for c in categories])
        )
