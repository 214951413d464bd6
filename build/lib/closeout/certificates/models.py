"""What each deletion removed, and the certificate issued once it was verified."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class DeletionRecord(SQLModel, table=True):
    """One deletion step of a case: a data category (or every category at once)."""

    __tablename__ = "deletion_record"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="closure_case.id", index=True, max_length=36)
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Store -> what was removed there (records per table, bundles, keys, addresses).
    removed: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    deleted_at: datetime


class DeletionCertificate(SQLModel, table=True):
    """Issued once per case, after the scan found nothing left; signed by the app secret."""

    __tablename__ = "deletion_certificate"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="closure_case.id", unique=True, max_length=36)
    issued_at: datetime = Field(index=True)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    body_sha256: str = Field(max_length=64)
    signature: str = Field(max_length=64)
