"""Bearer tokens for the JSON API: created by the CLI, stored as SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, select

from closeout.cases.models import ApiToken
from closeout.db import Database
from closeout.domain import Role

# Marks a string as a Closeout token (for secret scanners); not a secret itself.
TOKEN_PREFIX = "cot_"  # nosec B105


@dataclass(frozen=True)
class Principal:
    """Who is calling: a name (an account manager's e-mail, say) and a role."""

    name: str
    role: Role


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: Database, name: str, role: Role) -> str:
    """Create a token and return it; it cannot be shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        session.add(
            ApiToken(
                id=str(uuid.uuid4()),
                name=name,
                role=role,
                token_sha256=_digest(token),
                created_at=datetime.now(UTC),
            )
        )
    return token


def authenticate(db: Database, token: str) -> Principal | None:
    with db.session() as session:
        row = session.exec(
            select(ApiToken).where(
                ApiToken.token_sha256 == _digest(token), col(ApiToken.revoked_at).is_(None)
            )
        ).first()
        return Principal(row.name, Role(row.role)) if row else None
