"""Imports every table so SQLModel.metadata knows the whole schema (for Alembic)."""

from sqlmodel import SQLModel

import closeout.cases.models as _cases
import closeout.crm.models as _crm

metadata = SQLModel.metadata
__all__ = ["_cases", "_crm", "metadata"]
