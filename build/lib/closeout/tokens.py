"""Bearer tokens for the JSON API: created by the CLI, stored as SHA-256 only.

A token of a person (account manager, manager, compliance officer, admin) belongs to their
user: it carries the user's current role and stops working once the user is disabled. Only
the `integration` role's tokens may name a system (a CRM, say) instead of a user. Every
token expires (90 days unless asked otherwise) and can be revoked.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from closeout.access import PEOPLE_ROLES
from closeout.audit import chain
from closeout.cases.models import ApiToken
from closeout.contracts import AuditEntry
from closeout.db import Database
from closeout.domain import SYSTEM_ACTOR, Role
from closeout.users.models import UserRecord

# Marks a string as a Closeout token (for secret scanners); not a secret itself.
TOKEN_PREFIX = "cot_"  # nosec B105
DEFAULT_TOKEN_TTL = timedelta(days=90)
MAX_TOKEN_TTL = timedelta(days=2 * 365)
LIFETIME_FORMAT = "a number and a unit: 12h (hours), 30d (days) or 8w (weeks); at most 104w"
_LIFETIME = re.compile(r"^\s*([1-9][0-9]{0,5})\s*([hdw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a name (an account manager's e-mail, say) and a role."""

    name: str
    role: Role


class TokenError(ValueError):
    """A token cannot be created or revoked as asked; the message says why."""


class TokenRefused(Exception):
    """A token that does not authenticate; the message says why (unknown, expired, ...)."""


@dataclass(frozen=True)
class TokenInfo:
    """What `closeout tokens list` shows of a token: never the secret."""

    id: str
    name: str
    role: Role
    user: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def parse_lifetime(text: str) -> timedelta:
    """A token lifetime such as `30d`; TokenError when it is not one."""
    found = _LIFETIME.match(text.lower())
    if found is None:
        raise TokenError(f"{text!r} is not a lifetime: write {LIFETIME_FORMAT}")
    lifetime = int(found.group(1)) * _UNITS[found.group(2)]
    if lifetime > MAX_TOKEN_TTL:
        raise TokenError(f"{text!r} is too long: a token lives at most {MAX_TOKEN_TTL.days} days")
    return lifetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _audit(session: Session, actor: str, action: str, row: ApiToken, at: datetime) -> None:
    """A token made or revoked, in the audit trail (its id and owner, never the secret)."""
    details = {"token_id": row.id, "name": row.name, "role": row.role}
    chain.append(session, None, AuditEntry(str(uuid.uuid4()), actor, action, at, None, details))


def _user_by_email(session: Session, email: str) -> UserRecord | None:
    return session.exec(select(UserRecord).where(UserRecord.email == email.strip().lower())).first()


def _token_role(name: str, asked: Role | None, user: UserRecord | None) -> Role:
    """The role a new token carries: its user's, or a system's when no user is named."""
    if user is None:
        if asked is None or asked in PEOPLE_ROLES:
            raise TokenError(
                f"no user {name!r}: a token belongs to a user (add one with "
                "`closeout users add`); only integration tokens may name a system"
            )
        return asked
    if user.disabled_at is not None:
        raise TokenError(f"{user.email} is disabled: enable them first")
    if asked is not None and user.role != asked:
        raise TokenError(f"{user.email} is {user.role}: their tokens carry that role")
    return Role(user.role)


def create_token(
    db: Database,
    name: str,
    role: Role | None,
    *,
    ttl: timedelta = DEFAULT_TOKEN_TTL,
    now: datetime | None = None,
    actor: str = SYSTEM_ACTOR,
) -> str:
    """Create a token and return it; it cannot be shown again.

    `name` is the e-mail of the user the token belongs to (`role`, when given, must be
    theirs); for the `integration` role it may instead name the system that uses it.
    """
    if not timedelta(0) < ttl <= MAX_TOKEN_TTL:
        raise TokenError(f"a token lives for some time, at most {MAX_TOKEN_TTL.days} days")
    now = now or datetime.now(UTC)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        user = _user_by_email(session, name)
        role = _token_role(name, role, user)
        row = ApiToken(
            id=str(uuid.uuid4()),
            name=user.email if user else name.strip(),
            role=role,
            token_sha256=_digest(token),
            created_at=now,
            user_id=user.id if user else None,
            expires_at=now + ttl,
        )
        session.add(row)
        _audit(session, actor, "api_token_created", row, now)
    return token


def check_token(db: Database, token: str, now: datetime | None = None) -> Principal:
    """Who the token stands for; TokenRefused (saying why) when it does not authenticate."""
    now = now or datetime.now(UTC)
    with db.session() as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_sha256 == _digest(token))).first()
        if row is None:
            raise TokenRefused("unknown token")
        if row.revoked_at is not None:
            raise TokenRefused("this token was revoked")
        if row.expires_at is not None and _aware(row.expires_at) <= now:
            raise TokenRefused(
                f"this token expired on {_aware(row.expires_at):%Y-%m-%d %H:%M} UTC: "
                "ask for a new one (`closeout tokens create`)"
            )
        if row.user_id is None:
            if row.role != Role.INTEGRATION:
                # Made before tokens had owners, for nobody who signs in: nothing disables it.
                raise TokenRefused(
                    "this token belongs to no user: ask for a new one (`closeout tokens create "
                    "--name EMAIL`)"
                )
            return Principal(row.name, Role(row.role))
        user = session.get(UserRecord, row.user_id)
        if user is None or user.disabled_at is not None:
            raise TokenRefused("this token's user is disabled")
        return Principal(user.email, Role(user.role))


def authenticate(db: Database, token: str) -> Principal | None:
    """Who the token stands for, or None when it does not authenticate."""
    try:
        return check_token(db, token)
    except TokenRefused:
        return None


def list_tokens(db: Database) -> list[TokenInfo]:
    """Every token, newest first."""
    with db.session() as session:
        rows = session.exec(
            select(ApiToken, UserRecord)
            .join(UserRecord, col(ApiToken.user_id) == col(UserRecord.id), isouter=True)
            .order_by(col(ApiToken.created_at).desc())
        ).all()
        return [
            TokenInfo(
                token.id,
                token.name,
                Role(user.role if user else token.role),
                user.email if user else None,
                _aware(token.created_at),
                _aware(token.expires_at) if token.expires_at else None,
                _aware(token.revoked_at) if token.revoked_at else None,
            )
            for token, user in rows
        ]


def revoke_token(
    db: Database, token_id: str, now: datetime | None = None, *, actor: str = SYSTEM_ACTOR
) -> bool:
    """Revoke a token by id; False when it already was. TokenError for an unknown id."""
    now = now or datetime.now(UTC)
    with db.session() as session:
        row = session.get(ApiToken, token_id.strip())
        if row is None:
            raise TokenError(f"no token {token_id!r} (`closeout tokens list` shows the ids)")
        if row.revoked_at is not None:
            return False
        row.revoked_at = now
        session.add(row)
        _audit(session, actor, "api_token_revoked", row, now)
        return True
