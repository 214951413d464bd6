"""Every route, every role: who is let through, who gets 403 (and an audit event).

A new route fails this test until it is placed in the matrix: nobody adds a page or an
endpoint without saying who may use it.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import select

from api.app import ROUTERS
from closeout.audit.models import AuditEvent
from closeout.db import Database
from closeout.domain import Role
from closeout.settings import Settings
from closeout.tokens import create_token
from tests.api.conftest import ADMIN, GRACE, KIM, SAM, Scene, sign_in

AM, MGR, CO, AD = Role.ACCOUNT_MANAGER, Role.MANAGER, Role.COMPLIANCE_OFFICER, Role.ADMIN
INTEGRATION = Role.INTEGRATION
EVERYONE = frozenset(Role)
STAFF = frozenset({AM, MGR, AD})
COMPLIANCE = frozenset({CO, AD})
PUBLIC = None  # no sign-in at all

MATRIX: dict[tuple[str, str], frozenset[Role] | None] = {
    # JSON API (bearer tokens)
    ("POST", "/api/cases"): STAFF,
    ("GET", "/api/cases"): EVERYONE,
    ("GET", "/api/cases/{case_id}"): EVERYONE,
    ("GET", "/api/cases/{case_id}/certificate"): COMPLIANCE,
    ("GET", "/api/cases/{case_id}/retained-data"): COMPLIANCE,
    ("POST", "/api/cases/{case_id}/customer-response"): STAFF,
    ("POST", "/api/cases/{case_id}/cancel"): STAFF,
    ("POST", "/api/cases/{case_id}/reactivate"): STAFF,
    ("POST", "/api/cases/{case_id}/legal-holds"): COMPLIANCE,
    ("POST", "/api/cases/{case_id}/legal-holds/{hold_id}/release"): COMPLIANCE,
    ("POST", "/api/cases/{case_id}/retention"): COMPLIANCE,
    ("GET", "/api/tasks"): STAFF,
    ("POST", "/api/tasks/{task_id}/decision"): STAFF,
    ("POST", "/api/tasks/{task_id}/claim"): STAFF,
    ("POST", "/api/tasks/{task_id}/unclaim"): STAFF,
    ("POST", "/api/tasks/{task_id}/delegate"): STAFF,
    ("POST", "/api/triggers"): frozenset({INTEGRATION, AD}),
    ("GET", "/api/policies/{name}/changes"): COMPLIANCE,
    ("POST", "/api/policies/{name}/apply"): COMPLIANCE,
    ("GET", "/api/customers"): EVERYONE,
    ("GET", "/api/customers/{customer_id}"): EVERYONE,
    ("POST", "/api/customers/{customer_id}/exclusions"): STAFF,
    # pages (signed-in sessions)
    ("GET", "/"): EVERYONE,
    ("POST", "/preferences/language"): EVERYONE,
    ("GET", "/inbox"): STAFF,
    ("GET", "/tasks/{task_id}"): STAFF,
    ("POST", "/tasks/{task_id}/decision"): STAFF,
    ("POST", "/tasks/{task_id}/{action}"): STAFF,
    ("GET", "/cases"): EVERYONE,
    ("GET", "/cases/new"): STAFF,
    ("POST", "/cases/new"): STAFF,
    ("GET", "/cases/{case_id}"): EVERYONE,
    ("GET", "/compliance"): COMPLIANCE,
    ("GET", "/compliance/holds"): COMPLIANCE,
    ("POST", "/compliance/holds/{hold_id}/release"): COMPLIANCE,
    ("POST", "/cases/{case_id}/legal-holds"): COMPLIANCE,
    ("GET", "/compliance/audit"): COMPLIANCE,
    ("GET", "/compliance/audit.csv"): COMPLIANCE,
    ("POST", "/compliance/audit/verify"): COMPLIANCE,
    ("GET", "/compliance/certificates"): COMPLIANCE,
    ("GET", "/compliance/certificates/{case_id}"): COMPLIANCE,
    ("GET", "/compliance/certificates/{case_id}/download"): COMPLIANCE,
    ("GET", "/detection"): frozenset({MGR, AD}),
    # the Temporal Web UI's codec calls, with the signed-in session's cookie
    ("POST", "/codec/decode"): frozenset({MGR, CO, AD}),
    ("POST", "/codec/encode"): frozenset({MGR, CO, AD}),
    ("OPTIONS", "/codec/{operation}"): PUBLIC,
    # public: health, sign-in, the customers' signed links, the dev mail catcher
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/r/{token}"): PUBLIC,
    ("POST", "/r/{token}"): PUBLIC,
    ("GET", "/r/{token}/done"): PUBLIC,
    ("GET", "/exports/{token}"): PUBLIC,
    ("GET", "/dev/mail"): PUBLIC,
    ("GET", "/dev/mail/{mail_id}"): PUBLIC,
}
USERS = {AM: SAM, MGR: GRACE, CO: KIM, AD: ADMIN, INTEGRATION: "crm@example.com"}
# Who signs in to pages: people. The integration role exists for API tokens only.
PEOPLE = [r for r in Role if r is not INTEGRATION]
# Ids that exist nowhere: whoever is let through meets a 404 (or 422), never a 403.
PATH_VALUES = {
    "case_id": "no-such-case",
    "task_id": "no-such-task",
    "hold_id": "no-such-hold",
    "customer_id": "no-such-customer",
    "action": "claim",
    "name": "no-such-policy",
    "operation": "decode",
}


def _routes() -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    )


def test_every_route_is_in_the_matrix() -> None:
    assert set(_routes()) == set(MATRIX)


def _path(template: str) -> str:
    path = template
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    return path


def _json_routes() -> list[tuple[str, str]]:
    return [(m, p) for (m, p), roles in MATRIX.items() if roles and p.startswith("/api/")]


def _page_routes() -> list[tuple[str, str]]:
    return [(m, p) for (m, p), roles in MATRIX.items() if roles and not p.startswith("/api/")]


@pytest.mark.parametrize("role", list(Role))
def test_json_api_roles(
    role: Role, client: TestClient, db: Database, scene: Scene, settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {create_token(db, USERS[role], role)}"}
    for method, template in _json_routes():
        allowed = MATRIX[(method, template)]
        assert allowed is not None
        response = client.request(method, _path(template), headers=headers, json={})
        assert response.status_code != 401, (method, template)
        assert (response.status_code == 403) == (role not in allowed), (
            role, method, template, response.status_code, response.text,
        )  # fmt: skip
    _assert_denials_audited(db, role, _json_routes())


@pytest.mark.parametrize("role", PEOPLE)
def test_page_roles(role: Role, client: TestClient, db: Database, scene: Scene) -> None:
    token = sign_in(client, USERS[role])
    for method, template in _page_routes():
        allowed = MATRIX[(method, template)]
        assert allowed is not None
        allowed = allowed - {INTEGRATION}
        data = {"csrf_token": token} if method == "POST" else None
        response = client.request(method, _path(template), data=data)
        assert response.status_code not in (401, 303) or template == "/", (method, template)
        assert (response.status_code == 403) == (role not in allowed), (
            role, method, template, response.status_code,
        )  # fmt: skip
    _assert_denials_audited(db, role, _page_routes())


def _assert_denials_audited(db: Database, role: Role, routes: list[tuple[str, str]]) -> None:
    refused = sum(1 for key in routes if role not in (MATRIX[key] or EVERYONE))
    with db.session() as session:
        events = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "access_denied", AuditEvent.actor == USERS[role]
            )
        ).all()
    assert len(events) == refused
    assert all(e.details["role"] == role for e in events)


def test_anonymous_callers_get_401_or_the_sign_in_form(client: TestClient) -> None:
    for method, template in _json_routes():
        assert client.request(method, _path(template), json={}).status_code == 401
    for method, template in _page_routes():
        response = client.request(method, _path(template), data={})
        # A form without a session has no valid CSRF token either: refused before anything.
        assert response.status_code in (303, 403), (method, template)
        if method == "GET":
            assert response.headers["location"].startswith("/login?next=")
