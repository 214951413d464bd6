"""Audit tables: the events and the head of their hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel


class AuditEvent(SQLModel, table=True):
    """One attributable fact: who or what did what, when and why. Append-only.

    Events form one chain: `hash` covers the event's facts, the digest of its content
    (reason and details) and the previous event's hash. Erasing the content of a deleted
    customer's events keeps `content_sha256`, so the chain still verifies.
    """

    __tablename__ = "audit_event"

    id: str = Field(primary_key=True, max_length=36)
    seq: int = Field(unique=True)
    case_id: str | None = Field(default=None, index=True, max_length=36)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=80)
    # Sealed when it holds words about a customer (closeout/cases/sealing.py).
    reason: str | None = Field(default=None, sa_column=Column(Text))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    content_sha256: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    # Set when the event's personal content was erased (its customer's data was deleted).
    erased_at: datetime | None = None


class AuditChainHead(SQLModel, table=True):
    """The one row that says where the chain ends; appends lock it, so they are serial."""

    __tablename__ = "audit_chain_head"

    id: int = Field(primary_key=True)
    seq: int
    hash: str = Field(max_length=64)
