"""Server-side sessions on SQLite and PostgreSQL: ended at logout, when idle, when too old,
and all of a user's when they are disabled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from closeout.db import Database
from closeout.domain import Role
from closeout.users.accounts import Accounts
from closeout.users.models import WebSession
from closeout.users.sessions import WebSessions

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
IDLE = timedelta(hours=2)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database.from_url(database_url)
    yield database
    database.engine.dispose()


@pytest.fixture
def sessions(db: Database) -> WebSessions:
    return WebSessions(db, b"k" * 32, idle=IDLE, max_age=timedelta(hours=8))


def _user(db: Database, email: str = "ada@example.com") -> str:
    return Accounts(db).add(email, Role.MANAGER, "a-long-password").id


def _rows(db: Database) -> int:
    with db.session() as session:
        return int(session.exec(select(func.count()).select_from(WebSession)).one())


def test_the_table_holds_a_hash_never_the_session_id(db: Database, sessions: WebSessions) -> None:
    user_id = _user(db)
    session_id = sessions.start(user_id, T0)
    assert len(session_id) >= 43 and sessions.user_of(session_id, T0) == user_id
    with db.session() as session:
        row = session.exec(select(WebSession)).one()
    assert session_id not in row.id_sha256 and len(row.id_sha256) == 64


def test_an_ended_session_is_worth_nothing(db: Database, sessions: WebSessions) -> None:
    user_id = _user(db)
    first, second = sessions.start(user_id, T0), sessions.start(user_id, T0)
    sessions.end(first)
    assert sessions.user_of(first, T0) is None
    assert sessions.user_of(second, T0) == user_id  # another browser stays signed in
    assert sessions.user_of("made-up", T0) is None


def test_an_idle_session_ends_and_a_used_one_lives_until_its_maximum_age(
    db: Database, sessions: WebSessions
) -> None:
    user_id = _user(db)
    idle = sessions.start(user_id, T0)
    assert sessions.user_of(idle, T0 + IDLE - timedelta(seconds=1)) == user_id
    assert sessions.user_of(idle, T0 + 2 * IDLE) is None
    used = sessions.start(user_id, T0)
    for hour in range(1, 8):  # used every hour, never idle for two
        assert sessions.user_of(used, T0 + timedelta(hours=hour)) == user_id
    assert sessions.user_of(used, T0 + timedelta(hours=8)) is None
    assert _rows(db) == 0, "an ended session leaves no row"


def test_disabling_a_user_ends_all_their_sessions(db: Database, sessions: WebSessions) -> None:
    accounts = Accounts(db)
    ada, bo = _user(db), _user(db, "bo@example.com")
    ada_sessions = [sessions.start(ada, T0) for _ in range(2)]
    bo_session = sessions.start(bo, T0)
    assert accounts.disable("ada@example.com") and not accounts.disable("ADA@example.com")
    assert [sessions.user_of(s, T0) for s in ada_sessions] == [None, None]
    assert sessions.user_of(bo_session, T0) == bo
    assert accounts.enable("ada@example.com")
    assert sessions.user_of(ada_sessions[0], T0) is None, "enabling again revives nothing"


def test_the_csrf_token_is_bound_to_the_session(sessions: WebSessions) -> None:
    assert sessions.csrf_token("one") == sessions.csrf_token("one") != sessions.csrf_token("two")
