"""What compliance officers look up: deletion certificates (and, later, the audit trail)."""

from __future__ import annotations

from collections.abc import Sequence

from api.errors import NotFound
from closeout.cases.models import CaseRecord
from closeout.certificates.models import DeletionCertificate
from closeout.certificates.repository import Certificates
from closeout.db import Database
from closeout.settings import Settings


class ComplianceService:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.certificates = Certificates(db, settings.secret_key)

    def certificate(self, case_id: str) -> DeletionCertificate:
        """The case's deletion certificate; 404 saying why when there is none (yet)."""
        with self.db.session() as session:
            case = session.get(CaseRecord, case_id)
        if case is None:
            raise NotFound(f"no case {case_id!r}")
        certificate = self.certificates.for_case(case_id)
        if certificate is None:
            state = f"outcome {case.outcome}" if case.outcome else f"stage {case.stage}"
            raise NotFound(
                f"case {case_id!r} has no deletion certificate: it is issued once the "
                f"customer's data was deleted and verified (the case is at {state})"
            )
        return certificate

    def certificate_page(
        self, page: int, per_page: int
    ) -> tuple[Sequence[DeletionCertificate], int]:
        return self.certificates.page((page - 1) * per_page, per_page)

    def is_authentic(self, certificate: DeletionCertificate) -> bool:
        return self.certificates.is_authentic(certificate)
