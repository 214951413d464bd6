"""The archive bundles of a case: where each backup went, verified, deleted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import col, select

from closeout.cases.models import ArchiveBundleRecord
from closeout.contracts import BackupResult
from closeout.db import Database, table_of

_BUNDLES = table_of(ArchiveBundleRecord)
_BUNDLE = sa_select(_BUNDLES).where(_BUNDLES.c.id == bindparam("key"))
_BUNDLE_STATE = sa_select(_BUNDLES.c.verified_at, _BUNDLES.c.deleted_at).where(
    _BUNDLES.c.id == bindparam("key")
)
_UPDATE_BUNDLE = sa_update(_BUNDLES).where(_BUNDLES.c.id == bindparam("key"))


def _now() -> datetime:
    return datetime.now(UTC)


class Bundles:
    db: Database

    def record_bundle(
        self, case_id: str, customer_id: str, result: BackupResult, category: str | None = None
    ) -> None:
        written: dict[str, Any] = {
            "location": result.location,
            "manifest_sha256": result.manifest_sha256,
            "size_bytes": result.size_bytes,
            "record_counts": result.record_counts,
        }
        with self.db.transaction() as connection:
            if connection.execute(_BUNDLE_STATE, {"key": result.bundle_id}).first() is not None:
                connection.execute(_UPDATE_BUNDLE, {"key": result.bundle_id, **written})
                return
            bundle = ArchiveBundleRecord(
                id=result.bundle_id,
                case_id=case_id,
                customer_id=customer_id,
                location=result.location,
                manifest_sha256=result.manifest_sha256,
                size_bytes=result.size_bytes,
                record_counts=result.record_counts,
                category=category,
                created_at=_now(),
            )
            connection.execute(
                insert(_BUNDLES), {c.name: getattr(bundle, c.name) for c in _BUNDLES.columns}
            )

    def bundle(self, bundle_id: str) -> ArchiveBundleRecord | None:
        with self.db.transaction() as connection:
            found = connection.execute(_BUNDLE, {"key": bundle_id}).first()
        return None if found is None else ArchiveBundleRecord.model_validate(found._mapping)

    def live_bundles(self, case_id: str) -> Sequence[ArchiveBundleRecord]:
        """The case's bundles not yet deleted, whole backup first, then by category."""
        with self.db.session() as session:
            rows = session.exec(
                select(ArchiveBundleRecord).where(
                    ArchiveBundleRecord.case_id == case_id,
                    col(ArchiveBundleRecord.deleted_at).is_(None),
                )
            ).all()
        return sorted(rows, key=lambda r: (r.category is not None, r.category or "", r.id))

    def mark_bundle(self, bundle_id: str, *, verified: bool = False, deleted: bool = False) -> None:
        with self.db.transaction() as connection:
            found = connection.execute(_BUNDLE_STATE, {"key": bundle_id}).first()
            if found is None:
                return
            marks: dict[str, datetime] = {}
            if verified and found.verified_at is None:
                marks["verified_at"] = _now()
            if deleted and found.deleted_at is None:
                marks["deleted_at"] = _now()
            if marks:
                connection.execute(_UPDATE_BUNDLE, {"key": bundle_id, **marks})
