"""Imports every table so SQLModel.metadata knows the whole schema (for Alembic)."""

from sqlmodel import SQLModel

import closeout.cases.models as _cases
import closeout.crm.models as _crm
import closeout.detection.models as _detection
import closeout.users.models as _users

metadata = SQLModel.metadata
__all__ = ["_cases", "_crm", "_detection", "_users", "metadata"]
