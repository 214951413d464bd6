"""A NUL character anywhere in a request is refused with a 400 on both databases (PostgreSQL's
text cannot hold one: a search, an id or a sign-in name carrying it was a server error)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.nul_refusal import REFUSAL
from closeout.db import Database
from closeout.demo import seed_demo, seed_demo_users
from closeout.domain import Role
from closeout.tokens import create_token
from closeout.users.accounts import Accounts
from tests.api.conftest import KIM, SAM, csrf_of, sign_in
from tests.conftest import make_settings
from tests.support import MailSink

EXCLUSION = {"reason": "checked", "until": "2027-01-01T00:00:00Z"}


@pytest.fixture
def stack(
    tmp_path: Path, database_url: str, mail: MailSink
) -> Iterator[tuple[TestClient, Database]]:
    db = Database.from_url(database_url)
    seed_demo(db, count=6)
    seed_demo_users(Accounts(db, dev_mode=True))
    app = create_app(make_settings(tmp_path, database_url, mail))
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield client, db
    db.engine.dispose()


def _refused(answer: httpx.Response) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"detail": REFUSAL}
    # Refused inside the other middleware: the answer still carries the security headers.
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/customers?q=a%00b", None),
        ("GET", "/api/customers/cust%000001", None),
        ("GET", "/api/cases/a%00b", None),
        ("GET", "/api/insights?owner=a%00b", None),
        ("POST", "/api/tasks/x%00y/claim", None),
        ("POST", "/api/customers/cust-0001/exclusions", {**EXCLUSION, "reason": "a\x00b"}),
        ("POST", "/api/customers/cust-0001/exclusions", {"reason\x00": "x", **EXCLUSION}),
    ],
)
def test_the_json_api_refuses_a_nul_anywhere(
    stack: tuple[TestClient, Database], method: str, path: str, body: object
) -> None:
    client, db = stack
    token = create_token(db, SAM, Role.ACCOUNT_MANAGER)
    _refused(client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"}))


def test_the_pages_and_sign_in_refuse_a_nul(stack: tuple[TestClient, Database]) -> None:
    client, _db = stack
    csrf = csrf_of(client.get("/login").text)
    _refused(
        client.post(
            "/login", data={"email": "kim\x00@example.com", "password": "x", "csrf_token": csrf}
        )
    )
    _refused(
        client.post(
            "/login",
            files={"email": (None, "kim\x00"), "password": (None, "x"), "csrf_token": (None, csrf)},
        )
    )
    sign_in(client, KIM)
    for page in ("/cases/new?q=a%00b", "/compliance/audit?actor=a%00b", "/customers/a%00b"):
        _refused(client.get(page))


def test_text_that_only_looks_like_a_nul_passes(stack: tuple[TestClient, Database]) -> None:
    client, db = stack
    token = create_token(db, SAM, Role.ACCOUNT_MANAGER)
    # A backslash followed by "u0000", and "%00" typed into a search: text, not a NUL.
    answer = client.post(
        "/api/customers/cust-0001/exclusions",
        json={**EXCLUSION, "reason": "the \\u0000 in the export"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["reason"] == "the \\u0000 in the export"
    answer = client.get("/api/customers?q=%2500", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    sign_in(client, SAM)
    assert client.get("/cases/new?q=%2500").status_code == 200
