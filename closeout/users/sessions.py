"""Signed-in sessions kept on the server: the browser holds a random id, the table its hash.

Ending a session deletes its row, so a copied cookie stops working at logout; disabling a
user deletes all of theirs. A session also ends when unused for `idle` or older than
`max_age`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_
from sqlmodel import col, select

from closeout.db import Database
from closeout.users.models import UserRecord, WebSession

# Seen again within this, a session's last-seen time is not rewritten: a page of a few
# requests costs one read each, not one write each.
TOUCH_EVERY = timedelta(minutes=1)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class WebSessions:
    """Starts, checks and ends sessions; `key` derives each session's CSRF token."""

    def __init__(self, db: Database, key: bytes, *, idle: timedelta, max_age: timedelta) -> None:
        self.db = db
        self._key = key
        self.idle = idle
        self.max_age = max_age

    def start(
        self, user_id: str, now: datetime | None = None, sign_out_hint: str | None = None
    ) -> str:
        """A new session for the user; returns its id, for the cookie only."""
        now = now or datetime.now(UTC)
        session_id = secrets.token_urlsafe(32)
        with self.db.session() as session:
            # Whatever has lapsed goes as new sessions come: the table holds live ones only.
            session.exec(
                delete(WebSession).where(
                    or_(
                        col(WebSession.last_seen_at) < now - self.idle,
                        col(WebSession.created_at) < now - self.max_age,
                    )
                )
            )
            session.add(
                WebSession(
                    id_sha256=_digest(session_id),
                    user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    sign_out_hint=sign_out_hint,
                )
            )
        return session_id

    def user_of(self, session_id: str, now: datetime | None = None) -> str | None:
        """The signed-in user's id, or None when the session ended, lapsed or never was."""
        found = self.signed_in(session_id, now)
        return None if found is None else found.id

    def signed_in(self, session_id: str, now: datetime | None = None) -> UserRecord | None:
        """The signed-in user, read with their session in one query; None when the session
        ended, lapsed or never was, or the user is disabled."""
        now = now or datetime.now(UTC)
        with self.db.session() as session:
            found = session.exec(
                select(WebSession, UserRecord)
                .join(UserRecord, col(UserRecord.id) == col(WebSession.user_id))
                .where(col(WebSession.id_sha256) == _digest(session_id))
            ).first()
            if found is None:
                return None
            row, user = found
            seen = _aware(row.last_seen_at)
            if now - seen >= self.idle or now - _aware(row.created_at) >= self.max_age:
                session.delete(row)
                return None
            if now - seen >= TOUCH_EVERY:
                row.last_seen_at = now
                session.add(row)
            return user if user.disabled_at is None else None

    def end(self, session_id: str) -> str | None:
        """Sign out: the session's id is worth nothing from now on. The identity provider's
        sign-out hint it held, if any."""
        with self.db.session() as session:
            row = session.get(WebSession, _digest(session_id))
            hint = row.sign_out_hint if row is not None else None
            session.exec(delete(WebSession).where(col(WebSession.id_sha256) == _digest(session_id)))
            return hint

    def csrf_token(self, session_id: str) -> str:
        """The session's CSRF token: bound to it, so it dies with it."""
        return hmac.new(self._key, b"csrf|" + session_id.encode(), hashlib.sha256).hexdigest()
