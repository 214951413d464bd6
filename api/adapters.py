"""What the API's services work through, built once when the API starts (as the worker does):
the database, the read model's repository, the CRM behind its port, the customer source, the
connected access providers and data systems, the archive vault and the certificates."""

from __future__ import annotations

from dataclasses import dataclass

from closeout.cases.repository import CaseRepository, case_repository
from closeout.certificates.repository import Certificates
from closeout.connectors.access import AccessProvider
from closeout.connectors.adapters import connected
from closeout.connectors.data import DataSystem
from closeout.crm.adapters import crm_from
from closeout.crm.port import CrmPort, CustomerSource
from closeout.crypto.vault import ArchiveVault, vault_from
from closeout.db import Database
from closeout.detection.detector import DetectionInputs
from closeout.settings import Settings
from closeout.suppression.ledger import ledger_from


@dataclass(frozen=True)
class ApiAdapters:
    db: Database
    cases: CaseRepository
    crm: CrmPort
    vault: ArchiveVault
    certificates: Certificates
    access: list[AccessProvider]
    data: list[DataSystem]
    # Who the customers are: the reference CRM, or the connector that is the source.
    source: CustomerSource
    # Where detection's rules read their facts (None: the reference CRM's tables).
    detection: DetectionInputs | None

    @classmethod
    def build(cls, settings: Settings, db: Database) -> ApiAdapters:
        ledger = ledger_from(settings)
        crm = crm_from(settings, db, ledger)
        systems = connected(settings, crm, ledger)
        return cls(
            db,
            case_repository(settings, db),
            crm,
            vault_from(settings, db),
            Certificates(db, settings.record_keys()),
            systems.access,
            systems.data,
            systems.source,
            systems.detection,
        )
