"""Imports every table so SQLModel.metadata knows the whole schema (for Alembic)."""

from sqlmodel import SQLModel

import closeout.audit.models as _audit
import closeout.cases.models as _cases
import closeout.certificates.models as _certificates
import closeout.crm.models as _crm
import closeout.crypto.models as _crypto
import closeout.detection.models as _detection
import closeout.inbound.models as _inbound
import closeout.users.models as _users

metadata = SQLModel.metadata
__all__ = [
    "_audit",
    "_cases",
    "_certificates",
    "_crm",
    "_crypto",
    "_detection",
    "_inbound",
    "_users",
    "metadata",
]
