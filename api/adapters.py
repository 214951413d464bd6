"""What the API's services work through, built once when the API starts (as the worker does):
the database, the read model's repository and the CRM behind its port."""

from __future__ import annotations

from dataclasses import dataclass

from closeout.cases.repository import CaseRepository, case_repository
from closeout.crm.adapters import crm_from
from closeout.crm.port import CrmPort
from closeout.db import Database
from closeout.settings import Settings


@dataclass(frozen=True)
class ApiAdapters:
    db: Database
    cases: CaseRepository
    crm: CrmPort

    @classmethod
    def build(cls, settings: Settings, db: Database) -> ApiAdapters:
        return cls(db, case_repository(settings, db), crm_from(settings, db))
