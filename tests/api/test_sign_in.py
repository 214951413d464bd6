"""Signing in: attempts limited per account and per address, sessions that end on the
server, and tokens that stop working with their user."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import select

from api.app import SESSION_COOKIE
from closeout.audit.chain import verify
from closeout.audit.models import AuditEvent
from closeout.db import Database
from closeout.settings import Settings
from closeout.tokens import create_token, list_tokens, revoke_token
from closeout.users.accounts import DEMO_PASSWORD, Accounts
from tests.api.conftest import SAM, ReadModel, csrf_of, sign_in
from tests.users.test_accounts import CountingHasher


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "sign_in_limit_per_account": "3 per 15 minutes",
            "sign_in_limit_per_address": "6 per 15 minutes",
        }
    )


@pytest.fixture
def hasher(client: TestClient, db: Database, read_model: ReadModel) -> CountingHasher:
    """The app's accounts, counting the password hashes they verify."""
    counting = CountingHasher()
    client.app.state.accounts = Accounts(db, dev_mode=True, hasher=counting)  # type: ignore[attr-defined]
    return counting


def attempt(client: TestClient, email: str, password: str) -> tuple[int, str, dict[str, str]]:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    return response.status_code, response.text, dict(response.headers)


def throttled_events(db: Database) -> list[AuditEvent]:
    with db.session() as session:
        return list(
            session.exec(select(AuditEvent).where(AuditEvent.action == "sign_in_throttled")).all()
        )


def test_too_many_attempts_on_an_account_are_refused_before_any_hash(
    client: TestClient, db: Database, hasher: CountingHasher
) -> None:
    for _ in range(3):
        assert attempt(client, SAM, "a-wrong-guess")[0] == 401
    assert hasher.verified == 3
    for password in ("another-guess", DEMO_PASSWORD, "a-third-guess"):  # the right one too
        status, page, headers = attempt(client, SAM, password)
        assert status == 429
        assert "Too many sign-in attempts: try again in 15 minutes." in page
        assert 14 * 60 < int(headers["retry-after"]) <= 15 * 60
    assert hasher.verified == 3, "a refused attempt must not cost an Argon2 hash"
    [event] = throttled_events(db)  # one event for the minute, not one per attempt
    assert event.actor == "anonymous" and event.details["limit"] == "account"
    assert event.details["email"] == SAM
    assert "guess" not in json.dumps(event.details) + (event.reason or "")
    assert DEMO_PASSWORD not in json.dumps(event.details)
    with db.session() as session:
        assert verify(session).intact
    # Another account from elsewhere is not held up by it.
    assert attempt(client, "grace.manager@example.com", DEMO_PASSWORD)[0] == 303


def test_too_many_attempts_from_one_address_are_refused(
    client: TestClient, db: Database, hasher: CountingHasher
) -> None:
    for n in range(6):
        assert attempt(client, f"guess{n}@example.com", "a-wrong-guess")[0] == 401
    status, page, _headers = attempt(client, SAM, DEMO_PASSWORD)
    assert status == 429 and "Too many sign-in attempts" in page
    assert hasher.verified == 6
    assert [e.details["limit"] for e in throttled_events(db)] == ["address"]


def _cookie_payload(cookie: str) -> dict[str, object]:
    data = cookie.split(".")[0]
    loaded: dict[str, object] = json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))
    return loaded


def test_a_copied_cookie_stops_working_at_logout(client: TestClient, read_model: ReadModel) -> None:
    csrf = sign_in(client, SAM)
    copied = client.cookies[SESSION_COOKIE]
    assert set(_cookie_payload(copied)) == {"sid"}, "the cookie holds the session id only"
    assert client.get("/inbox").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    client.cookies.set(SESSION_COOKIE, copied)  # someone kept a copy
    refused = client.get("/inbox")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")


def test_forms_still_need_the_sessions_csrf_token(
    client: TestClient, read_model: ReadModel
) -> None:
    sign_in(client, SAM)
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/inbox").status_code == 200, "a refused logout signs nobody out"


def test_a_disabled_users_session_and_token_are_refused(
    client: TestClient, db: Database, read_model: ReadModel
) -> None:
    sign_in(client, SAM)
    token = create_token(db, SAM, None)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/cases", headers=headers).status_code == 200
    Accounts(db).disable(SAM)
    refused = client.get("/inbox")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    api = client.get("/api/cases", headers=headers)
    assert api.status_code == 401 and api.json()["detail"] == "this token's user is disabled"
    assert attempt(client, SAM, DEMO_PASSWORD)[0] == 401


def test_revoked_and_unknown_tokens_are_refused_with_a_reason(
    client: TestClient, db: Database, read_model: ReadModel
) -> None:
    token = create_token(db, SAM, None)
    [listed] = list_tokens(db)
    revoke_token(db, listed.id)
    revoked = client.get("/api/cases", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    unknown = client.get("/api/cases", headers={"Authorization": "Bearer cot_nope"})
    assert unknown.status_code == 401 and unknown.json()["detail"] == "unknown token"


def test_a_limit_that_is_not_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="'lots' is not a limit like '5 per 15 minutes'"):
        Settings(dev_mode=True, var_dir=tmp_path, sign_in_limit_per_account="lots")
