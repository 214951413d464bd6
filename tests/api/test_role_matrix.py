"""Every route, every role: who is let through, who gets 403 (and an audit event); and for
every route with a case, task or customer in it, the owner and the not-owner.

A new route fails this test until it is placed in the matrix (and, with an object in its
path, in the owner axis): nobody adds a page or an endpoint without saying who may use it.
"""

from __future__ import annotations

from datetime import date, timedelta

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
# People: an integration's token raises triggers and reads nothing.
READERS = frozenset({AM, MGR, CO, AD})
STAFF = frozenset({AM, MGR, AD})
COMPLIANCE = frozenset({CO, AD})
PUBLIC = None  # no sign-in at all

MATRIX: dict[tuple[str, str], frozenset[Role] | None] = {
    # JSON API (bearer tokens)
    ("POST", "/api/cases"): STAFF,
    ("GET", "/api/cases"): READERS,
    ("GET", "/api/cases/{case_id}"): READERS,
    ("GET", "/api/cases/{case_id}/certificate"): COMPLIANCE,
    ("GET", "/api/cases/{case_id}/retained-data"): COMPLIANCE,
    ("GET", "/api/cases/{case_id}/replies"): READERS,
    ("POST", "/api/cases/{case_id}/request-extension"): READERS,
    ("GET", "/api/requests"): COMPLIANCE,
    ("POST", "/api/cases/{case_id}/customer-response"): STAFF,
    ("POST", "/api/cases/{case_id}/cancel"): STAFF,
    ("POST", "/api/cases/{case_id}/churn-class"): STAFF,
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
    ("GET", "/api/customers"): READERS,
    ("GET", "/api/customers/{customer_id}"): READERS,
    ("POST", "/api/customers/{customer_id}/exclusions"): STAFF,
    ("GET", "/api/insights"): READERS,
    # pages (signed-in sessions)
    ("GET", "/"): EVERYONE,
    ("POST", "/preferences/language"): EVERYONE,
    ("GET", "/inbox"): STAFF,
    ("POST", "/inbox/bulk"): STAFF,
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
    ("POST", "/cases/{case_id}/cancel"): STAFF,
    ("POST", "/cases/{case_id}/churn-class"): STAFF,
    ("POST", "/cases/{case_id}/reactivate"): STAFF,
    ("POST", "/cases/{case_id}/customer-answer"): STAFF,
    ("POST", "/cases/{case_id}/retention"): COMPLIANCE,
    ("GET", "/compliance/audit"): COMPLIANCE,
    ("GET", "/compliance/audit.csv"): COMPLIANCE,
    ("POST", "/compliance/audit/verify"): COMPLIANCE,
    ("GET", "/compliance/certificates"): COMPLIANCE,
    ("GET", "/compliance/certificates/{case_id}"): COMPLIANCE,
    ("GET", "/compliance/certificates/{case_id}/download"): COMPLIANCE,
    ("GET", "/detection"): frozenset({MGR, AD}),
    ("GET", "/customers/{customer_id}"): READERS,
    ("GET", "/insights"): READERS,
    ("GET", "/insights.csv"): READERS,
    ("POST", "/customers/{customer_id}/exclusions"): STAFF,
    # the Temporal Web UI's codec calls, with the signed-in session's cookie
    ("POST", "/codec/decode"): frozenset({MGR, CO, AD}),
    ("OPTIONS", "/codec/{operation}"): PUBLIC,
    # public: health, sign-in, the customers' signed links, the dev mail catcher
    ("GET", "/healthz"): PUBLIC,
    # Prometheus: a bearer of CLOSEOUT_METRICS_TOKEN, not a person (tests/api/test_metrics.py)
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/login/oidc"): PUBLIC,  # 404 unless an identity provider is configured
    ("GET", "/login/oidc/callback"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/r/{token}"): PUBLIC,
    ("POST", "/r/{token}"): PUBLIC,
    ("GET", "/r/{token}/done"): PUBLIC,
    ("GET", "/exports/{token}"): PUBLIC,
    ("GET", "/compliance/requests"): COMPLIANCE,
    ("POST", "/cases/{case_id}/request-extension"): READERS,
    ("GET", "/privacy/request"): PUBLIC,
    ("POST", "/privacy/request"): PUBLIC,
    ("GET", "/privacy/request/{token}"): PUBLIC,
    ("POST", "/privacy/request/{token}"): PUBLIC,
    ("GET", "/privacy/request/{token}/done"): PUBLIC,
    ("GET", "/dev/mail"): PUBLIC,
    ("GET", "/dev/mail/{mail_id}"): PUBLIC,
    ("POST", "/dev/mail/{mail_id}/reply"): PUBLIC,  # dev mode only, like the rest of /dev
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
        # Let through means an answer or a named refusal, never a server error.
        assert response.status_code < 500, (role, method, template, response.text)
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
        assert response.status_code < 500, (role, method, template, response.text)
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


# ---------------------------------------------------------------- owner / not owner

FUTURE = "2099-01-31T00:00:00Z"
SOON = (date.today() + timedelta(days=30)).isoformat()
# A request each route would accept from the owner, so that what decides is who asks.
JSON_BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("POST", "/api/cases/{case_id}/customer-response"): {"response": "object", "comment": "no"},
    ("POST", "/api/cases/{case_id}/cancel"): {"reason": "paid up"},
    ("POST", "/api/cases/{case_id}/churn-class"): {"churn_class": "competitive", "reason": "x"},
    ("POST", "/api/cases/{case_id}/reactivate"): {"reason": "came back"},
    ("POST", "/api/tasks/{task_id}/decision"): {"decision": "approve", "comment": "ok"},
    ("POST", "/api/tasks/{task_id}/claim"): {},
    ("POST", "/api/tasks/{task_id}/unclaim"): {},
    ("POST", "/api/tasks/{task_id}/delegate"): {"to": GRACE, "note": "please"},
    ("POST", "/api/customers/{customer_id}/exclusions"): {"reason": "talks", "until": FUTURE},
    ("POST", "/api/cases/{case_id}/request-extension"): {"reason": "archives", "until": FUTURE},
}
PAGE_FORMS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/tasks/{task_id}/decision"): {"decision": "approve", "comment": "ok"},
    ("POST", "/tasks/{task_id}/{action}"): {},
    ("POST", "/customers/{customer_id}/exclusions"): {"reason": "talks", "until": SOON},
    ("POST", "/cases/{case_id}/cancel"): {"reason": "paid up"},
    ("POST", "/cases/{case_id}/churn-class"): {"churn_class": "competitive", "reason": "x"},
    ("POST", "/cases/{case_id}/reactivate"): {"reason": "came back"},
    ("POST", "/cases/{case_id}/customer-answer"): {"response": "stay", "channel": "phone"},
    ("POST", "/cases/{case_id}/request-extension"): {"reason": "archives", "until": SOON},
}
OBJECTS = ("{case_id}", "{task_id}", "{customer_id}")


def _object_routes(api: bool) -> list[tuple[str, str]]:
    """The routes an account manager may use that name a case, task or customer."""
    return [
        (m, p)
        for (m, p), roles in MATRIX.items()
        if roles and AM in roles and p.startswith("/api/") == api and any(o in p for o in OBJECTS)
    ]


def _own_and_other(scene: Scene, template: str) -> tuple[str, str]:
    """The path on Sam's own object and on Li Na's."""
    own = {"case_id": scene.sam_case, "task_id": scene.sam_task, "customer_id": "cust-0001"}
    other = {"case_id": scene.li_case, "task_id": scene.li_task, "customer_id": "cust-0003"}

    def fill(values: dict[str, str]) -> str:
        path = template
        for name, value in {**PATH_VALUES, **values}.items():
            path = path.replace("{" + name + "}", value)
        return path

    return fill(own), fill(other)


def _let_through(response: object, template: str) -> None:
    """The owner meets the case itself: an answer, a named refusal from it, or (no Temporal
    server runs here) a 503 that says so; never a 403 or a server error."""
    status = response.status_code  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    assert status != 403, (template, text)
    assert status < 500 or (status == 503 and "Temporal" in text), (template, status, text)


def test_every_object_route_is_on_the_owner_axis() -> None:
    """A new action on a case, task or customer says what the owner would send it."""
    routes = _object_routes(api=True) + _object_routes(api=False)
    assert {k for k in routes if k[0] == "POST"} == set(JSON_BODIES) | set(PAGE_FORMS)


def test_json_api_owner_axis(client: TestClient, db: Database, scene: Scene) -> None:
    """An account manager reads and acts on their own customers' cases, tasks and customers;
    another account manager's are refused (and audited), as on the pages."""
    headers = {"Authorization": f"Bearer {create_token(db, SAM, AM)}"}
    routes = _object_routes(api=True)
    for method, template in routes:
        own, other = _own_and_other(scene, template)
        body = JSON_BODIES.get((method, template), {})
        refused = client.request(method, other, headers=headers, json=body)
        assert refused.status_code == 403, (template, refused.status_code, refused.text)
        _let_through(client.request(method, own, headers=headers, json=body), template)
    with db.session() as session:
        denied = session.exec(
            select(AuditEvent).where(AuditEvent.action == "access_denied", AuditEvent.actor == SAM)
        ).all()
    assert len(denied) == len(routes)

    # Opening a case: for one's own customer only.
    open_other = client.post(
        "/api/cases",
        headers=headers,
        json={"customer_id": "cust-0006", "trigger": "manual", "evidence": {"reason": "x"}},
    )
    assert open_other.status_code == 403 and "li.na@example.com" in open_other.text
    # Lists hold only one's own customers.
    listed = client.get("/api/cases", headers=headers).json()
    assert {c["id"] for c in listed["items"]} == {scene.sam_case}
    owners = {c["owner"] for c in client.get("/api/customers", headers=headers).json()["items"]}
    assert owners == {SAM}


def test_supervisors_and_compliance_read_every_customer(
    client: TestClient, db: Database, scene: Scene
) -> None:
    for name, role in ((GRACE, MGR), (KIM, CO), (ADMIN, AD)):
        headers = {"Authorization": f"Bearer {create_token(db, name, role)}"}
        for case_id in (scene.sam_case, scene.li_case):
            assert client.get(f"/api/cases/{case_id}", headers=headers).status_code == 200
        listed = client.get("/api/customers", headers=headers).json()
        assert len({c["owner"] for c in listed["items"]}) > 1


def test_integration_tokens_only_raise_triggers(
    client: TestClient, db: Database, scene: Scene
) -> None:
    headers = {"Authorization": f"Bearer {create_token(db, 'crm@example.com', INTEGRATION)}"}
    for path in ("/api/cases", f"/api/cases/{scene.sam_case}", "/api/customers/cust-0001"):
        assert client.get(path, headers=headers).status_code == 403, path


def test_page_owner_axis(client: TestClient, db: Database, scene: Scene) -> None:
    csrf = sign_in(client, SAM)
    for method, template in _object_routes(api=False):
        own, other = _own_and_other(scene, template)
        form = {"csrf_token": csrf, **PAGE_FORMS.get((method, template), {})}
        data = form if method == "POST" else None
        refused = client.request(method, other, data=data)
        assert refused.status_code == 403, (template, refused.status_code)
        _let_through(client.request(method, own, data=data), template)
