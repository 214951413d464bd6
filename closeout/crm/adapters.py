"""The one place the CRM adapter is built: the worker and the API ask here, once each."""

from __future__ import annotations

from closeout.crm.port import CrmPort
from closeout.crm.reference import ReferenceCrm
from closeout.db import Database
from closeout.settings import Settings
from closeout.suppression.ledger import SuppressionLedger, ledger_from


def crm_from(settings: Settings, db: Database, ledger: SuppressionLedger | None = None) -> CrmPort:
    """The CRM Closeout closes customers in: the reference CRM in Closeout's own database,
    refusing customers the suppression ledger names (the caller's, when it has one)."""
    return ReferenceCrm(db, ledger if ledger is not None else ledger_from(settings))
