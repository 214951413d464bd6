"""What the API's services work through, built once when the API starts (as the worker does):
the database, the read model's repository, the CRM behind its port, the connected access
providers, the archive vault and the certificates."""

from __future__ import annotations

from dataclasses import dataclass

from closeout.cases.repository import CaseRepository, case_repository
from closeout.certificates.repository import Certificates
from closeout.connectors.access import AccessProvider
from closeout.connectors.adapters import access_providers
from closeout.crm.adapters import crm_from
from closeout.crm.port import CrmPort
from closeout.crypto.vault import ArchiveVault, vault_from
from closeout.db import Database
from closeout.settings import Settings


@dataclass(frozen=True)
class ApiAdapters:
    db: Database
    cases: CaseRepository
    crm: CrmPort
    vault: ArchiveVault
    certificates: Certificates
    access: list[AccessProvider]

    @classmethod
    def build(cls, settings: Settings, db: Database) -> ApiAdapters:
        crm = crm_from(settings, db)
        return cls(
            db,
            case_repository(settings, db),
            crm,
            vault_from(settings, db),
            Certificates(db, settings.record_keys()),
            access_providers(settings, crm),
        )
