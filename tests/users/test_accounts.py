"""Signing in costs one hash whoever asks, and users are disabled, enabled and re-roled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pwdlib import PasswordHash
from sqlmodel import col, select

from closeout.audit.models import AuditEvent
from closeout.db import Database
from closeout.domain import Role
from closeout.users.accounts import DEMO_PASSWORD, Accounts, UserError


class CountingHasher(PasswordHash):
    """The recommended Argon2 hasher, counting the hashes it verifies."""

    def __init__(self) -> None:
        super().__init__(PasswordHash.recommended().hashers)
        self.verified = 0

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        self.verified += 1
        return super().verify(password, hash)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database.from_url(database_url)
    yield database
    database.engine.dispose()


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ada@example.com", "a-long-password"),  # right
        ("ada@example.com", "a-wrong-password"),  # wrong password
        ("nobody@example.com", "a-long-password"),  # unknown address
        ("bo@example.com", "a-long-password"),  # disabled
        ("ada@example.com", DEMO_PASSWORD),  # the demo password, outside dev mode
        ("nobody@example.com", DEMO_PASSWORD),
    ],
)
def test_every_sign_in_verifies_exactly_one_hash(db: Database, email: str, password: str) -> None:
    setup = Accounts(db, dev_mode=True)
    setup.add("ada@example.com", Role.MANAGER, "a-long-password")
    setup.add("bo@example.com", Role.MANAGER, "a-long-password")
    setup.disable("bo@example.com")
    hasher = CountingHasher()
    accounts = Accounts(db, hasher=hasher)
    found = accounts.authenticate(email, password)
    assert hasher.verified == 1
    right = (email, password) == ("ada@example.com", "a-long-password")
    assert (found is not None) is right


def test_the_demo_password_costs_one_hash_in_dev_mode_too(db: Database) -> None:
    Accounts(db, dev_mode=True).add("demo@example.com", Role.ADMIN, DEMO_PASSWORD)
    hasher = CountingHasher()
    accounts = Accounts(db, dev_mode=True, hasher=hasher)
    assert accounts.authenticate("demo@example.com", DEMO_PASSWORD) is not None
    assert accounts.authenticate("ghost@example.com", DEMO_PASSWORD) is None
    assert hasher.verified == 2
    assert Accounts(db).authenticate("demo@example.com", DEMO_PASSWORD) is None


def test_disable_enable_set_role_and_list(db: Database) -> None:
    accounts = Accounts(db)
    ada = accounts.add("ada@example.com", Role.ACCOUNT_MANAGER, "a-long-password")
    assert accounts.set_role("Ada@Example.com", Role.MANAGER).role is Role.MANAGER
    assert accounts.disable("ada@example.com")
    assert accounts.get(ada.id) is None
    assert accounts.authenticate("ada@example.com", "a-long-password") is None
    [listed] = accounts.listing()
    assert listed.role is Role.MANAGER and listed.disabled_at is not None
    assert accounts.enable("ada@example.com") and not accounts.enable("ada@example.com")
    assert accounts.authenticate("ada@example.com", "a-long-password") is not None
    with pytest.raises(UserError, match=r"no user 'ghost@example\.com'"):
        accounts.disable("ghost@example.com")
    with pytest.raises(UserError, match="role for API tokens"):
        accounts.set_role("ada@example.com", Role.INTEGRATION)
    accounts.disable("ada@example.com", actor="cli:ops")
    with db.session() as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    assert [(e.action, e.details) for e in events] == [
        ("user_role_changed", {"email": ada.email, "was": "account_manager", "role": "manager"}),
        ("user_disabled", {"email": ada.email}),
        ("user_enabled", {"email": ada.email}),
        ("user_disabled", {"email": ada.email}),
    ]
    assert events[-1].actor == "cli:ops"
