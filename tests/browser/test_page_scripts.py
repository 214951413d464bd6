"""The pages' behaviour comes from /static/closeout.js: the policy allows no inline script."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_staff_pages import SAM, sign_in
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration


def test_choosing_a_language_switches_the_page_at_once(stack: Stack, page: Page) -> None:
    sign_in(page, stack, SAM)
    page.goto(f"{stack.api_url}/cases")
    policy = page.request.get(f"{stack.api_url}/cases").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy

    with page.expect_navigation():
        page.get_by_label("Language").select_option("zh-CN")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    with page.expect_navigation():
        page.locator("select[name=language]").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
