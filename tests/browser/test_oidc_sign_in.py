"""Staff sign in with the company's identity provider, in Chromium: a real OpenID Connect
provider (django-oidc-provider) on a loopback port, the real API beside it. The role comes from
the person's group; signing out ends the session here and at the provider; a person whose
groups give no role is refused, and disabled once their group is taken away."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from closeout.users.models import UserRecord
from tests.integration.stack import Stack, start_stack
from tests.oidc_provider.launch import CLIENT_ID, CLIENT_SECRET, Provider, oidc_provider
from tests.support import free_port

ROLE_MAP = {"closeout-compliance": "compliance_officer", "closeout-am": "account_manager"}
USERS = [
    "kim:kim-password:kim.oidc@example.test:closeout-compliance,staff",
    "sam:sam-password:sam.oidc@example.test:closeout-am",
    "eve:eve-password:eve.oidc@example.test:marketing",
]


@pytest.fixture(scope="module")
def provider_and_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Provider, Stack]]:
    root = Path(tmp_path_factory.mktemp("oidc-stack"))
    api_port = free_port()
    base = f"http://127.0.0.1:{api_port}"
    with oidc_provider(root, f"{base}/login/oidc/callback", f"{base}/login", USERS) as provider:
        env = {
            "CLOSEOUT_OIDC_ISSUER": provider.issuer,
            "CLOSEOUT_OIDC_CLIENT_ID": CLIENT_ID,
            "CLOSEOUT_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "CLOSEOUT_OIDC_ROLE_MAP": json.dumps(ROLE_MAP),
            "CLOSEOUT_OIDC_LABEL": "Example IdP",
        }
        for stack in start_stack(root / "stack", api_port=api_port, **env):
            yield provider, stack


def _at_provider(page: Page, username: str, password: str) -> None:
    page.get_by_role("link", name="Sign in with Example IdP").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _user(stack: Stack, email: str) -> UserRecord | None:
    db = stack.db
    with db.session() as session:
        found = session.exec(select(UserRecord).where(UserRecord.email == email)).first()
    db.engine.dispose()
    return found


def test_sign_in_takes_the_role_from_the_group_and_sign_out_ends_both_sessions(
    provider_and_stack: tuple[Provider, Stack], page: Page
) -> None:
    provider, stack = provider_and_stack
    page.goto(f"{stack.api_url}/compliance")  # a page that needs signing in
    expect(page).to_have_url(re.compile(r"/login\?next="))
    _at_provider(page, "kim", "kim-password")
    expect(page).to_have_url(f"{stack.api_url}/compliance")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    made = _user(stack, "kim.oidc@example.test")
    assert made is not None and made.role == "compliance_officer"
    assert made.oidc_subject is not None and made.oidc_subject.startswith(provider.issuer)
    # Signing out here signs out at the provider too, and comes back to the sign-in form.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{stack.api_url}/login")
    page.goto(f"{stack.api_url}/compliance")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_role("link", name="Sign in with Example IdP").click()
    expect(page.get_by_label("Username")).to_be_visible()  # the provider asks again


def test_a_person_whose_groups_give_no_role_is_refused(
    provider_and_stack: tuple[Provider, Stack], page: Page
) -> None:
    _provider, stack = provider_and_stack
    page.goto(f"{stack.api_url}/login")
    _at_provider(page, "eve", "eve-password")
    expect(page.get_by_role("alert")).to_contain_text("gives you no role in Closeout")
    assert _user(stack, "eve.oidc@example.test") is None
    page.goto(f"{stack.api_url}/inbox")  # and no session here
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_a_person_is_disabled_when_the_provider_takes_their_group_away(
    provider_and_stack: tuple[Provider, Stack], page: Page
) -> None:
    provider, stack = provider_and_stack
    # Sam signs in as an account manager; then his group is taken away at the provider.
    page.goto(f"{stack.api_url}/login")
    _at_provider(page, "sam", "sam-password")
    expect(page).to_have_url(f"{stack.api_url}/inbox")
    page.get_by_role("button", name="Sign out").click()
    provider.set_groups("sam", ["former-staff"])
    page.goto(f"{stack.api_url}/login")
    _at_provider(page, "sam", "sam-password")
    expect(page.get_by_role("alert")).to_contain_text("gives you no role in Closeout")
    sam = _user(stack, "sam.oidc@example.test")
    assert sam is not None and sam.disabled_at is not None


def test_a_callback_not_started_here_is_refused(
    provider_and_stack: tuple[Provider, Stack], page: Page
) -> None:
    _provider, stack = provider_and_stack
    page.goto(f"{stack.api_url}/login/oidc/callback?code=stolen&state=forged")
    expect(page.get_by_role("alert")).to_contain_text("was not started here")
