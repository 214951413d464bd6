"""API tokens on SQLite and PostgreSQL: tied to a user or an integration, expiring, listed
without their secret, revoked, and refused once their user is disabled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlmodel import col, select

from closeout.audit.models import AuditEvent
from closeout.db import Database, alembic_config, upgrade
from closeout.domain import Role
from closeout.tokens import (
    DEFAULT_TOKEN_TTL,
    TokenError,
    TokenRefused,
    check_token,
    create_token,
    list_tokens,
    parse_lifetime,
    revoke_token,
)
from closeout.users.accounts import Accounts

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ADA = "ada@example.com"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database.from_url(database_url)
    Accounts(database).add(ADA, Role.ACCOUNT_MANAGER, "a-long-password")
    yield database
    database.engine.dispose()


def test_a_token_expires_after_90_days_or_as_asked(db: Database) -> None:
    default = create_token(db, ADA, Role.ACCOUNT_MANAGER, now=T0)
    short = create_token(db, ADA, None, ttl=parse_lifetime("30d"), now=T0)
    assert check_token(db, default, T0 + DEFAULT_TOKEN_TTL - timedelta(seconds=1)).name == ADA
    with pytest.raises(TokenRefused, match="expired on 2027-02-28"):
        check_token(db, default, T0 + DEFAULT_TOKEN_TTL)
    assert check_token(db, short, T0 + timedelta(days=29)).role is Role.ACCOUNT_MANAGER
    with pytest.raises(TokenRefused, match="expired"):
        check_token(db, short, T0 + timedelta(days=30))


def test_a_revoked_token_is_refused_and_listed_as_revoked(db: Database) -> None:
    token = create_token(db, ADA, Role.ACCOUNT_MANAGER, now=T0)
    [listed] = list_tokens(db)
    assert revoke_token(db, listed.id, T0 + timedelta(hours=1))
    assert not revoke_token(db, listed.id), "revoking twice changes nothing"
    with pytest.raises(TokenRefused, match="revoked"):
        check_token(db, token, T0 + timedelta(hours=2))
    [listed] = list_tokens(db)
    assert listed.revoked_at == T0 + timedelta(hours=1)
    with pytest.raises(TokenError, match="no token 'nope'"):
        revoke_token(db, "nope")
    with db.session() as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    assert [e.action for e in events] == ["api_token_created", "api_token_revoked"]
    assert all(e.details["token_id"] == listed.id for e in events)
    assert token not in str([e.details for e in events])


def test_the_list_shows_everything_but_the_secret(db: Database) -> None:
    mine = create_token(db, ADA, Role.ACCOUNT_MANAGER, now=T0)
    crm = create_token(db, "crm-sync", Role.INTEGRATION, now=T0 + timedelta(minutes=1))
    listed = list_tokens(db)
    assert [(t.name, t.role, t.user) for t in listed] == [
        ("crm-sync", Role.INTEGRATION, None),
        (ADA, Role.ACCOUNT_MANAGER, ADA),
    ]
    assert all(t.created_at and t.expires_at and t.revoked_at is None for t in listed)
    shown = repr(listed)
    assert mine not in shown and crm not in shown and mine[4:20] not in shown


def test_a_disabled_users_tokens_are_refused_and_their_role_follows_the_user(
    db: Database,
) -> None:
    token = create_token(db, ADA, Role.ACCOUNT_MANAGER)
    accounts = Accounts(db)
    accounts.set_role(ADA, Role.MANAGER)
    assert check_token(db, token).role is Role.MANAGER
    accounts.disable(ADA)
    with pytest.raises(TokenRefused, match="user is disabled"):
        check_token(db, token)
    with pytest.raises(TokenError, match="disabled"):
        create_token(db, ADA, None)
    accounts.enable(ADA)
    assert check_token(db, token).name == ADA


def test_only_integration_tokens_may_name_a_system(db: Database) -> None:
    with pytest.raises(TokenError, match=r"no user 'root@example\.com'"):
        create_token(db, "root@example.com", Role.ADMIN)
    with pytest.raises(TokenError, match="is account_manager: their tokens carry that role"):
        create_token(db, ADA, Role.ADMIN)
    assert check_token(db, create_token(db, "crm-sync", Role.INTEGRATION)).name == "crm-sync"


@pytest.mark.parametrize(
    ("text", "lifetime"),
    [("12h", timedelta(hours=12)), ("30d", timedelta(days=30)), (" 8W ", timedelta(weeks=8))],
)
def test_lifetimes(text: str, lifetime: timedelta) -> None:
    assert parse_lifetime(text) == lifetime


@pytest.mark.parametrize("text", ["30", "30x", "0d", "-1d", "105w", "forever"])
def test_bad_lifetimes_say_the_format(text: str) -> None:
    with pytest.raises(TokenError, match=r"12h|at most"):
        parse_lifetime(text)


def test_the_upgrade_ties_existing_tokens_to_their_users_and_dates_them(
    database_url: str,
) -> None:
    command.downgrade(alembic_config(database_url), "0011")
    db = Database.from_url(database_url)
    with db.engine.begin() as conn:
        # A user as that schema holds one (today's model has columns it lacks).
        conn.execute(
            text(
                "INSERT INTO app_user (id, email, display_name, role, locale, password_hash, "
                "created_at) VALUES ('u-ada', :email, 'Ada', 'account_manager', 'en', 'x', :at)"
            ),
            {"email": ADA, "at": T0},
        )
        for token_id, name in (("t-1", "Ada@Example.com"), ("t-2", "crm-sync")):
            conn.execute(
                text(
                    "INSERT INTO api_token (id, name, role, token_sha256, created_at) "
                    "VALUES (:id, :name, 'account_manager', :sha, :at)"
                ),
                {"id": token_id, "name": name, "sha": token_id * 20, "at": T0},
            )
    upgrade(database_url)
    listed = {t.id: t for t in list_tokens(db)}
    assert listed["t-1"].user == ADA and listed["t-2"].user is None
    now = datetime.now(UTC)
    for token in listed.values():
        assert token.expires_at is not None
        assert now < token.expires_at <= now + DEFAULT_TOKEN_TTL
    db.engine.dispose()


def test_a_persons_token_without_a_user_is_refused(database_url: str) -> None:
    """A token made before tokens had owners, in a person's role for nobody who signs in,
    would outlive every disabled account: refused; an integration's token still works."""
    import hashlib

    db = Database.from_url(database_url)
    with db.engine.begin() as conn:
        for token, role in (("cot_old-admin", "admin"), ("cot_old-crm", "integration")):
            conn.execute(
                text(
                    "INSERT INTO api_token (id, name, role, token_sha256, created_at, expires_at)"
                    " VALUES (:id, 'legacy', :role, :sha, :at, :until)"
                ),
                {
                    "id": token,
                    "role": role,
                    "sha": hashlib.sha256(token.encode()).hexdigest(),
                    "at": T0,
                    "until": datetime.now(UTC) + timedelta(days=30),
                },
            )
    with pytest.raises(TokenRefused, match="belongs to no user"):
        check_token(db, "cot_old-admin")
    assert check_token(db, "cot_old-crm").role is Role.INTEGRATION
    db.engine.dispose()
