"""Creating, disabling and changing users, and checking their passwords (Argon2, pwdlib)."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pwdlib import PasswordHash
from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from closeout.access import PEOPLE_ROLES
from closeout.audit import chain
from closeout.contracts import AuditEntry
from closeout.db import Database
from closeout.domain import SYSTEM_ACTOR, Role
from closeout.users.models import UserRecord, WebSession

MIN_PASSWORD_LENGTH = 10
# Only for dev mode: the demo users' password, refused everywhere else.
DEMO_PASSWORD = "closeout-demo"  # nosec B105
# Who acts when the identity provider's word changes a user (made, linked, role, disabled).
PROVIDER_ACTOR = "identity-provider"
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


@dataclass(frozen=True)
class UserListing:
    """A user as `closeout users list` shows them."""

    email: str
    display_name: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None


def user_from(row: UserRecord) -> User:
    return User(row.id, row.email, row.display_name, Role(row.role), row.locale)


def _refuse_system_role(role: Role) -> None:
    if role not in PEOPLE_ROLES:
        raise UserError(f"{role} is a role for API tokens; people sign in with another")


def _audit(session: Session, actor: str, action: str, **details: str) -> None:
    """Who changed whose access, in the audit trail, with the change itself."""
    chain.append(
        session,
        None,
        AuditEntry(str(uuid.uuid4()), actor, action, datetime.now(UTC), None, details),
    )


class Accounts:
    def __init__(
        self, db: Database, *, dev_mode: bool = False, hasher: PasswordHash = _hasher
    ) -> None:
        self.db = db
        self.dev_mode = dev_mode
        self._hasher = hasher

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
        _refuse_system_role(role)
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
                password_hash=self._hasher.hash(password),
                created_at=datetime.now(UTC),
            )
            session.add(row)
            return user_from(row)

    def authenticate(self, email: str, password: str) -> User | None:
        """The user with this e-mail and password, if enabled; None otherwise.

        Every answer verifies exactly one hash (the user's, or a dummy one for an unknown or
        disabled address), whatever the password: timing does not tell who exists.
        """
        with self.db.session() as session:
            row = self._find(session, email.strip().lower())
            # A user the identity provider signs in has no password here: once linked, the
            # provider alone decides (leaving the company's directory ends their access).
            usable = row is not None and row.disabled_at is None and row.oidc_subject is None
            matches = self._hasher.verify(
                password, row.password_hash if row is not None and usable else _DUMMY_HASH
            )
            if row is None or not usable or not matches:
                return None
            if password == DEMO_PASSWORD and not self.dev_mode:
                return None
            return user_from(row)

    def from_provider(
        self,
        subject: str,
        email: str,
        email_verified: bool,
        name: str,
        role: Role | None,
    ) -> User:
        """The user the company's identity provider signed in (`subject`: its issuer and
        subject), made on their first sign-in (only with an address the provider verified) and
        given the role their groups map to at every sign-in. One whose groups map to no role
        any more is disabled (the provider said so). A user made here with a password is linked
        to a provider identity with that verified address, and from then on signs in there
        only; an administrator's account is never linked (the break-glass sign-in)."""
        try:
            with self.db.session() as session:
                outcome = self._from_provider(session, subject, email, email_verified, name, role)
        except IntegrityError:  # the same person's first sign-in in two tabs at once
            raise UserError("this sign-in crossed another one of yours: try again") from None
        if isinstance(outcome, str):
            raise UserError(outcome)
        return outcome

    def _from_provider(
        self,
        session: Session,
        subject: str,
        email: str,
        email_verified: bool,
        name: str,
        role: Role | None,
    ) -> User | str:
        email = email.strip().lower()
        row = session.exec(select(UserRecord).where(UserRecord.oidc_subject == subject)).first()
        if row is None:
            row = self._find(session, email)
            if row is not None and row.oidc_subject is not None:
                return "this e-mail address belongs to another identity at the provider"
            if not email_verified:
                return (
                    "the identity provider has not verified this e-mail address, which would "
                    "be your name in Closeout"
                )
            if row is not None and row.role == Role.ADMIN:
                return (
                    "an administrator's account is never linked to the identity provider: it "
                    "stays the break-glass sign-in, with its password"
                )
            if row is not None:
                row.oidc_subject = subject
                _audit(session, PROVIDER_ACTOR, "user_linked", email=row.email)
        if role is None:
            if row is not None and row.disabled_at is None:
                row.disabled_at = datetime.now(UTC)
                session.exec(delete(WebSession).where(col(WebSession.user_id) == row.id))
                _audit(session, PROVIDER_ACTOR, "user_disabled", email=row.email)
            return "your identity provider gives you no role in Closeout (no group of its map)"
        if row is None:
            if not _EMAIL.match(email):
                return f"{email!r} is not an e-mail address"
            row = UserRecord(
                id=str(uuid.uuid4()),
                email=email,
                display_name=name[:200],
                role=role,
                locale="en",
                # No password works for them here: they sign in at the provider.
                password_hash=self._hasher.hash(secrets.token_urlsafe(32)),
                created_at=datetime.now(UTC),
                oidc_subject=subject,
            )
            session.add(row)
            _audit(session, PROVIDER_ACTOR, "user_created", email=email, role=role)
            return user_from(row)
        if row.disabled_at is not None:
            return "your Closeout user is disabled: an administrator can enable it again"
        if row.role != role:
            _audit(session, PROVIDER_ACTOR, "user_role_changed", email=row.email, was=row.role,
                   role=role)  # fmt: skip
            row.role = role
        session.add(row)
        return user_from(row)

    def get(self, user_id: str) -> User | None:
        with self.db.session() as session:
            row = session.get(UserRecord, user_id)
            return user_from(row) if row is not None and row.disabled_at is None else None

    def by_email(self, email: str) -> User | None:
        with self.db.session() as session:
            row = self._find(session, email.strip().lower())
            return user_from(row) if row is not None and row.disabled_at is None else None

    def set_locale(self, user_id: str, locale: str) -> None:
        with self.db.session() as session:
            row = session.get(UserRecord, user_id)
            if row is None:
                raise UserError(f"no user {user_id}")
            row.locale = locale
            session.add(row)

    def disable(self, email: str, *, actor: str = SYSTEM_ACTOR) -> bool:
        """Disable a user and end their sessions (their tokens are refused from now on);
        False when they already were disabled."""
        with self.db.session() as session:
            row = self._existing(session, email)
            session.exec(delete(WebSession).where(col(WebSession.user_id) == row.id))
            if row.disabled_at is not None:
                return False
            row.disabled_at = datetime.now(UTC)
            session.add(row)
            _audit(session, actor, "user_disabled", email=row.email)
            return True

    def enable(self, email: str, *, actor: str = SYSTEM_ACTOR) -> bool:
        """Let a disabled user sign in again; False when they were not disabled."""
        with self.db.session() as session:
            row = self._existing(session, email)
            if row.disabled_at is None:
                return False
            row.disabled_at = None
            session.add(row)
            _audit(session, actor, "user_enabled", email=row.email)
            return True

    def set_role(self, email: str, role: Role, *, actor: str = SYSTEM_ACTOR) -> User:
        """Give a user another role; their sessions and tokens carry it from the next request."""
        _refuse_system_role(role)
        with self.db.session() as session:
            row = self._existing(session, email)
            before, row.role = row.role, role
            session.add(row)
            if before != role:
                _audit(session, actor, "user_role_changed", email=row.email, was=before, role=role)
            return user_from(row)

    def listing(self) -> list[UserListing]:
        """Every user, disabled ones included, by e-mail."""
        with self.db.session() as session:
            rows = session.exec(select(UserRecord).order_by(col(UserRecord.email))).all()
            return [
                UserListing(r.email, r.display_name, Role(r.role), r.created_at, r.disabled_at)
                for r in rows
            ]

    def with_roles(self, *roles: Role) -> list[User]:
        with self.db.session() as session:
            rows = session.exec(
                select(UserRecord)
                .where(col(UserRecord.role).in_(roles), col(UserRecord.disabled_at).is_(None))
                .order_by(col(UserRecord.email))
            ).all()
            return [user_from(r) for r in rows]

    def count(self) -> int:
        with self.db.session() as session:
            return session.exec(select(func.count()).select_from(UserRecord)).one()

    @classmethod
    def _existing(cls, session: Session, email: str) -> UserRecord:
        row = cls._find(session, email.strip().lower())
        if row is None:
            raise UserError(f"no user {email!r} (`closeout users list` shows them)")
        return row

    @staticmethod
    def _find(session: Session, email: str) -> UserRecord | None:
        return session.exec(select(UserRecord).where(UserRecord.email == email)).first()
