"""Security headers on pages, JSON, downloads and static files; pages without inline code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from closeout.db import Database
from closeout.domain import Role
from closeout.mail import TEMPLATES_DIR
from closeout.settings import Settings
from closeout.tokens import create_token
from tests.api.conftest import KIM, LI, ReadModel, Scene, sign_in

INLINE_CODE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.I)


def assert_protected(response: Response) -> None:
    headers = response.headers
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"


def test_json_about_cases_customers_and_tasks_is_not_stored(
    client: TestClient, db: Database, scene: Scene
) -> None:
    token = create_token(db, "admin@example.com", Role.ADMIN)
    client.headers["Authorization"] = f"Bearer {token}"
    for path in ("/api/cases", f"/api/cases/{scene.li_case}", "/api/customers", "/api/tasks"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_protected(response)
    # Refusals and errors carry them too.
    assert_protected(client.get("/api/cases/no-such-case"))
    assert_protected(client.get("/api/cases", headers={"Authorization": "Bearer wrong"}))


@pytest.mark.parametrize("path", ["/cases", "/inbox", "/"])
def test_staff_pages_are_not_stored_and_allow_no_inline_code(
    client: TestClient, scene: Scene, path: str
) -> None:
    sign_in(client, LI)
    response = client.get(path, follow_redirects=True)
    assert response.status_code == 200
    assert_protected(response)
    assert not INLINE_CODE.search(response.text), INLINE_CODE.search(response.text)


def test_compliance_pages_and_downloads_are_not_stored(
    client: TestClient, read_model: ReadModel
) -> None:
    sign_in(client, KIM)
    for path in ("/compliance", "/compliance/certificates", "/compliance/audit"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert_protected(page)
        assert not INLINE_CODE.search(page.text), (path, INLINE_CODE.search(page.text))
    csv = client.get("/compliance/audit.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert_protected(csv)


def test_answer_pages_and_export_links_are_not_stored(client: TestClient) -> None:
    for path in ("/r/not-a-link", "/exports/not-a-link", "/login"):
        response = client.get(path)
        assert_protected(response)


def test_static_files_are_served_and_may_be_cached(client: TestClient) -> None:
    for name, kind in (("closeout.css", "text/css"), ("closeout.js", "javascript")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        assert kind in response.headers["content-type"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "no-store" not in response.headers.get("cache-control", "")


def test_hsts_only_outside_dev_mode(settings: Settings, client: TestClient) -> None:
    assert "strict-transport-security" not in client.get("/login").headers
    production = settings.model_copy(update={"dev_mode": False})
    with TestClient(create_app(production)) as served:
        hsts = served.get("/login").headers["strict-transport-security"]
    assert hsts.startswith("max-age=31536000")


@pytest.mark.parametrize("folder", ["web", "answers", "dev"])
def test_page_templates_hold_no_inline_script_or_style(folder: str) -> None:
    for template in sorted(Path(TEMPLATES_DIR, folder).glob("*.html")):
        found = INLINE_CODE.search(template.read_text())
        assert found is None, f"{template.name}: {found.group(0) if found else ''}"


def test_no_policy_names_a_directive_twice() -> None:
    """A browser obeys the first of two: a second img-src would be dead text."""
    from api.security_headers import CAUGHT_MAIL_POLICY, DOCS_POLICY, POLICY

    for policy in (POLICY, CAUGHT_MAIL_POLICY, DOCS_POLICY):
        names = [directive.split()[0] for directive in policy.split("; ")]
        assert len(names) == len(set(names)), policy
