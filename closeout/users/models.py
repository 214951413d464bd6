"""The user table (who may sign in, in which role, speaking which language) and their
signed-in sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel


class UserRecord(SQLModel, table=True):
    """A person who signs in; the password is kept as an Argon2 hash only."""

    __tablename__ = "app_user"

    id: str = Field(primary_key=True, max_length=36)
    email: str = Field(max_length=320, unique=True)
    display_name: str = Field(max_length=200)
    role: str = Field(max_length=40)
    locale: str = Field(default="en", max_length=20)
    password_hash: str = Field(max_length=400)
    created_at: datetime
    disabled_at: datetime | None = None
    # "<issuer> <subject>" of a user the company's identity provider signs in (OIDC); such a
    # user has no password that works here.
    oidc_subject: str | None = Field(default=None, max_length=600, unique=True)


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds the session id, the table only its SHA-256."""

    __tablename__ = "web_session"

    id_sha256: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="app_user.id", index=True, max_length=36)
    created_at: datetime
    last_seen_at: datetime
    # The ID token of a sign-in through the identity provider: the hint its end-session page
    # wants when the person signs out (kept here, not in the cookie: it names them).
    sign_out_hint: str | None = Field(default=None, sa_column=Column(Text))
