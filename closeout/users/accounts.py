"""Creating users and checking their passwords (Argon2 through pwdlib)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pwdlib import PasswordHash
from sqlalchemy import func
from sqlmodel import Session, col, select

from closeout.db import Database
from closeout.domain import Role
from closeout.users.models import UserRecord

MIN_PASSWORD_LENGTH = 10
# Only for dev mode: the demo users' password, refused everywhere else.
DEMO_PASSWORD = "closeout-demo"  # nosec B105
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHash.recommended()
# Verified against when the e-mail is unknown, so a wrong address costs as long as a wrong
# password and the answer's timing does not tell which addresses exist.
_DUMMY_HASH = _hasher.hash("an unknown user's password")


class UserError(ValueError):
    """A user cannot be created as asked; the message says why."""


@dataclass(frozen=True)
class User:
    """A signed-in person, as the pages see them."""

    id: str
    email: str
    display_name: str
    role: Role
    locale: str


def _user(row: UserRecord) -> User:
    return User(row.id, row.email, row.display_name, Role(row.role), row.locale)


class Accounts:
    def __init__(self, db: Database, *, dev_mode: bool = False) -> None:
        self.db = db
        self.dev_mode = dev_mode

    def add(
        self,
        email: str,
        role: Role,
        password: str,
        *,
        display_name: str | None = None,
        locale: str = "en",
    ) -> User:
        email = email.strip().lower()
        if not _EMAIL.match(email):
            raise UserError(f"{email!r} is not an e-mail address")
        if role is Role.INTEGRATION:
            raise UserError("integration is a role for API tokens; people sign in with another")
        if password == DEMO_PASSWORD and not self.dev_mode:
            raise UserError("the demo password is only accepted in dev mode")
        if len(password) < MIN_PASSWORD_LENGTH and password != DEMO_PASSWORD:
            raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
        with self.db.session() as session:
            if self._find(session, email) is not None:
                raise UserError(f"a user {email} already exists")
            row = UserRecord(
                id=str(uuid.uuid4()),
                email=email,
                display_name=display_name or email.split("@")[0],
                role=role,
                locale=locale,
                password_hash=_hasher.hash(password),
                created_at=datetime.now(UTC),
            )
            session.add(row)
            return _user(row)

    def authenticate(self, email: str, password: str) -> User | None:
        """The user with this e-mail and password, if enabled; None otherwise."""
        with self.db.session() as session:
            row = self._find(session, email.strip().lower())
            if row is None or row.disabled_at is not None:
                _hasher.verify(password, _DUMMY_HASH)
                return None
            if password == DEMO_PASSWORD and not self.dev_mode:
                return None
            if not _hasher.verify(password, row.password_hash):
                return None
            return _user(row)

    def get(self, user_id: str) -> User | None:
        with self.db.session() as session:
            row = session.get(UserRecord, user_id)
            return _user(row) if row is not None and row.disabled_at is None else None

    def by_email(self, email: str) -> User | None:
        with self.db.session() as session:
            row = self._find(session, email.strip().lower())
            return _user(row) if row is not None and row.disabled_at is None else None

    def set_locale(self, user_id: str, locale: str) -> None:
        with self.db.session() as session:
            row = session.get(UserRecord, user_id)
            if row is None:
                raise UserError(f"no user {user_id}")
            row.locale = locale
            session.add(row)

    def with_roles(self, *roles: Role) -> list[User]:
        with self.db.session() as session:
            rows = session.exec(
                select(UserRecord)
                .where(col(UserRecord.role).in_(roles), col(UserRecord.disabled_at).is_(None))
                .order_by(col(UserRecord.email))
            ).all()
            return [_user(r) for r in rows]

    def count(self) -> int:
        with self.db.session() as session:
            return session.exec(select(func.count()).select_from(UserRecord)).one()

    @staticmethod
    def _find(session: Session, email: str) -> UserRecord | None:
        return session.exec(select(UserRecord).where(UserRecord.email == email)).first()
