"""Recording deletions and issuing the certificate that proves them."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from closeout.audit.models import AuditChainHead
from closeout.cases.models import CaseRecord
from closeout.certificates.models import DeletionCertificate, DeletionRecord
from closeout.crypto.keyring import KeyUnavailable
from closeout.crypto.purpose_keys import KeyPurpose, RecordKeys
from closeout.db import Database

CERTIFICATE_FORMAT = "closeout-deletion-certificate/1"
VERIFICATION_METHOD = (
    "after deletion, every store was searched for the customer id and found empty; "
    "the customer's data keys were destroyed, so copies of sealed archives in backups "
    "cannot be read"
)


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _sum_stores(records: Sequence[DeletionRecord]) -> dict[str, Any]:
    stores: dict[str, Any] = {}
    for record in records:
        for store, removed in record.removed.items():
            if isinstance(removed, dict):
                into = stores.setdefault(store, {})
                for name, count in removed.items():
                    into[name] = into.get(name, 0) + int(count)
            else:
                stores[store] = stores.get(store, 0) + int(removed)
    return stores


class CertificateError(Exception):
    """A certificate cannot be issued (nothing was recorded as deleted for the case)."""


class Certificates:
    """Certificates are signed under a master key's certificate key; the body names its id,
    so a certificate still verifies after the secret key or the current master key changed."""

    def __init__(self, db: Database, keys: RecordKeys) -> None:
        self.db = db
        self._keys = keys

    def record_deletion(
        self,
        record_id: str,
        case_id: str,
        categories: Sequence[str],
        removed: dict[str, Any],
        at: datetime,
    ) -> None:
        """What one deletion step removed (written once per step, whatever the retries)."""
        with self.db.session() as session:
            if session.get(DeletionRecord, record_id) is None:
                session.add(
                    DeletionRecord(
                        id=record_id,
                        case_id=case_id,
                        categories=list(categories),
                        removed=removed,
                        deleted_at=at,
                    )
                )

    def _key_for(self, body: dict[str, Any]) -> bytes | None:
        key_id = body.get("key_id")
        if not isinstance(key_id, str):  # issued before certificates named their key
            return self._keys.legacy_certificate_key()
        try:
            return self._keys.key(KeyPurpose.CERTIFICATES, key_id)
        except KeyUnavailable:
            return None

    def sign(self, body: dict[str, Any]) -> tuple[str, str]:
        """The body's digest and its signature under the key the body names."""
        key = self._key_for(body)
        if key is None:
            raise KeyUnavailable(f"no key for a certificate under {body.get('key_id')!r}")
        digest = hashlib.sha256(_canonical(body)).hexdigest()
        signature = hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()
        return digest, signature

    def is_authentic(self, certificate: DeletionCertificate) -> bool:
        """Whether the body is unchanged and signed under the key it names (which this
        deployment still holds)."""
        try:
            digest, signature = self.sign(certificate.body)
        except KeyUnavailable:
            return False
        return hmac.compare_digest(digest, certificate.body_sha256) and hmac.compare_digest(
            signature, certificate.signature
        )

    def issue(
        self, case_id: str, stores_checked: Sequence[str], verified_at: datetime
    ) -> DeletionCertificate:
        """Issue the case's certificate once its deletion was verified (again: the same one)."""
        with self.db.session() as session:
            existing = session.exec(
                select(DeletionCertificate).where(DeletionCertificate.case_id == case_id)
            ).first()
            if existing is not None:
                return existing
            case = session.get(CaseRecord, case_id)
            records = session.exec(
                select(DeletionRecord)
                .where(DeletionRecord.case_id == case_id)
                .order_by(col(DeletionRecord.deleted_at), col(DeletionRecord.id))
            ).all()
            if case is None or not records:
                raise CertificateError(f"no deletion is recorded for case {case_id!r}")
            head = session.get(AuditChainHead, 1)
            certificate_id = str(uuid.uuid4())
            body: dict[str, Any] = {
                "format": CERTIFICATE_FORMAT,
                "certificate_id": certificate_id,
                "case_id": case.id,
                "customer_id": case.customer_id,
                "customer_ref": self._keys.customer_ref(case.customer_id),
                "key_id": self._keys.current_id,
                "policy": case.policy,
                "trigger": case.trigger,
                "churn_class": case.churn_class,
                "deletions": [
                    {
                        "categories": r.categories,
                        "deleted_at": _iso(r.deleted_at),
                        "removed": r.removed,
                    }
                    for r in records
                ],
                "categories": sorted({c for r in records for c in r.categories}),
                "stores": _sum_stores(records),
                "verification": {
                    "verified_at": _iso(verified_at),
                    "stores_checked": list(stores_checked),
                    "method": VERIFICATION_METHOD,
                },
                "deleted_at": _iso(records[-1].deleted_at),
                "issued_at": _iso(verified_at),
                "audit_anchor": {"seq": head.seq, "hash": head.hash} if head else None,
            }
            digest, signature = self.sign(body)
            certificate = DeletionCertificate(
                id=certificate_id,
                case_id=case_id,
                issued_at=verified_at,
                body=body,
                body_sha256=digest,
                signature=signature,
            )
            session.add(certificate)
            return certificate

    def resign_legacy(self, at: datetime) -> tuple[int, list[str]]:
        """Sign again, under the current master key, every certificate issued before
        certificates named their key (signed with the secret key): how many, and the ids of
        those that did not verify (left as they are, for someone to look at)."""
        resigned, refused = 0, []
        with self.db.session() as session:
            for certificate in session.exec(select(DeletionCertificate)).all():
                if isinstance(certificate.body.get("key_id"), str):
                    continue
                if not self.is_authentic(certificate):
                    refused.append(certificate.id)
                    continue
                body = {
                    **certificate.body,
                    "key_id": self._keys.current_id,
                    "resigned": {"at": _iso(at), "previous_sha256": certificate.body_sha256},
                }
                certificate.body_sha256, certificate.signature = self.sign(body)
                certificate.body = body
                session.add(certificate)
                resigned += 1
        return resigned, refused

    def for_case(self, case_id: str) -> DeletionCertificate | None:
        with self.db.session() as session:
            return session.exec(
                select(DeletionCertificate).where(DeletionCertificate.case_id == case_id)
            ).first()

    def page(self, offset: int, limit: int) -> tuple[Sequence[DeletionCertificate], int]:
        with self.db.session() as session:
            total = session.exec(select(func.count()).select_from(DeletionCertificate)).one()
            rows = session.exec(
                select(DeletionCertificate)
                .order_by(col(DeletionCertificate.issued_at).desc())
                .offset(offset)
                .limit(limit)
            ).all()
        return rows, int(total)
