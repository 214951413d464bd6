"""Data keys, stored wrapped; destroying one makes every copy of what it sealed unreadable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class DataKeyRecord(SQLModel, table=True):
    __tablename__ = "data_key"
    __table_args__ = (UniqueConstraint("customer_id", "scope"),)

    id: str = Field(primary_key=True, max_length=36)
    customer_id: str = Field(max_length=64, index=True)
    # What the key seals: the customer's archive (more scopes may follow, one key each).
    scope: str = Field(max_length=40)
    master_key_id: str | None = Field(default=None, max_length=64)
    # base64 of the wrapped key; None once destroyed.
    wrapped: str | None = Field(default=None, max_length=200)
    created_at: datetime
    rewrapped_at: datetime | None = None
    destroyed_at: datetime | None = None
