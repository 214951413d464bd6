"""A customer opens the notice in the dev mail catcher, follows "stay" and confirms."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.integration.helpers import new_customer, open_case, poll, wait_case
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration


def test_customer_stays_from_the_win_back_mail(stack: Stack, page: Page) -> None:
    customer = new_customer(stack)
    with stack.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]

        poll(
            lambda: any(customer in str(m["To"]) for m in stack.mail.messages), "the win-back mail"
        )
        page.goto(f"{stack.api_url}/dev/mail")
        row = page.locator("tr", has_text=f"accounts@integration{customer}.example")
        expect(row).to_have_count(1)
        screenshot(page, "dev-mail-list")
        row.get_by_role("link").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("keep you")
        screenshot(page, "dev-mail-message")

        # The long link wraps over lines, so pointer coordinates are fragile: follow it from the
        # keyboard, as a keyboard user does.
        link = page.locator("pre a[href*='/r/']").first
        link.focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Keep my account")
        screenshot(page, "answer-confirm")
        assert api.get(f"/api/cases/{case_id}").json()["outcome"] is None  # opening changed nothing

        page.get_by_role("button", name="Yes, I want to stay").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
        screenshot(page, "answer-done")
        assert wait_case(api, case_id, outcome="retained")["stage"] == "closed"

        page.go_back()
        page.get_by_role("button", name="Yes, I want to stay").click()
        expect(page.locator(".error")).to_contain_text("already been used")
