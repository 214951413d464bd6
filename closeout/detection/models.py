"""Detection's tables: exclusions, runs and their candidates, webhook deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel


class DetectionExclusion(SQLModel, table=True):
    """A customer the daily scan leaves alone, for a reason, until a date."""

    __tablename__ = "detection_exclusion"

    id: str = Field(primary_key=True, max_length=36)
    customer_id: str = Field(max_length=64, index=True)
    # Sealed words (closeout/cases/sealing.py), of no fixed length.
    reason: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime
    expires_at: datetime = Field(index=True)


class DetectionRun(SQLModel, table=True):
    """One scan: what it found and what it did, by trigger and churn class."""

    __tablename__ = "detection_run"

    id: str = Field(primary_key=True, max_length=36)
    started_at: datetime = Field(index=True)
    finished_at: datetime | None = None
    flagged: int = 0
    started: int = 0
    evidence_added: int = 0
    skipped: int = 0
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class DetectionCandidate(SQLModel, table=True):
    """A customer a run flagged, and what became of it."""

    __tablename__ = "detection_candidate"

    run_id: str = Field(primary_key=True, max_length=36)
    customer_id: str = Field(primary_key=True, max_length=64, index=True)
    trigger: str = Field(max_length=40)
    churn_class: str = Field(max_length=40)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # new → started / already_open; open_case → evidence_added; excluded
    status: str = Field(max_length=20, index=True)
    case_id: str | None = Field(default=None, max_length=36)


class TriggerDelivery(SQLModel, table=True):
    """A webhook delivery, by its idempotency key: a repeat gets the first answer back."""

    __tablename__ = "trigger_delivery"

    idempotency_key: str = Field(primary_key=True, max_length=200)
    body_sha256: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime
    # The case the delivery opened or found, when it did: how erasure finds it.
    case_id: str | None = Field(default=None, max_length=36, index=True)
