"""The whole reply loop by hand, in the browser against the real stack: a notice caught in
`/dev/mail` is answered with its "reply" button, the reply goes over SMTP to `closeout inbound`,
which keeps it and hands it to the case; the owner reads it in a customer_reply task and says
what it means; the case does it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from closeout.inbound.address import ReplyAddresses
from closeout.settings import DEV_SECRET
from tests.browser.conftest import screenshot
from tests.browser.test_staff_pages import SAM, case_at_approval, sign_in
from tests.integration.helpers import open_task, poll
from tests.integration.stack import Stack, start_stack
from tests.support import free_port

pytestmark = pytest.mark.integration
DOMAIN = "replies.localhost"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = Path(tmp_path_factory.mktemp("reply-stack"))
    for running in start_stack(
        root, CLOSEOUT_INBOUND_DOMAIN=DOMAIN, CLOSEOUT_INBOUND_PORT=str(free_port())
    ):
        running.start_inbound()
        yield running


def test_a_reply_from_dev_mail_becomes_the_owners_task(stack: Stack, page: Page) -> None:
    case_id = case_at_approval(stack, SAM)
    address = ReplyAddresses(DEV_SECRET, DOMAIN).address_for(case_id)

    def advance_notice() -> dict[str, str] | None:
        caught = httpx.get(f"{stack.api_url}/dev/mail").json()
        return next(
            (m for m in caught if m["reply_to"] == address and "will be closed" in m["subject"]),
            None,
        )

    notice = poll(advance_notice, "the advance notice in the catcher")
    page.goto(f"{stack.api_url}/dev/mail/{notice['id']}")
    page.get_by_label(re.compile("Your reply")).fill("Please don't close it: I was on leave.")
    page.get_by_role("button", name="Reply").click()
    expect(page.get_by_role("status")).to_contain_text(f"Reply sent to {address}")
    screenshot(page, "dev-mail-replied")

    with stack.client("admin") as api:
        task = open_task(api, case_id, "customer_reply", timeout=60)
        [reply] = api.get(f"/api/cases/{case_id}/replies").json()
    assert reply["text"] == "Please don't close it: I was on leave."
    assert (reply["kind"], reply["handoff"], reply["task_id"]) == ("reply", "task", task["id"])

    sign_in(page, stack, SAM)
    page.goto(f"{stack.api_url}/tasks/{task['id']}")
    shown = page.locator("#reply")
    expect(shown).to_contain_text("Please don't close it: I was on leave.")
    expect(shown).not_to_contain_text("wrote:")  # the quoted notice is not the reply
    screenshot(page, "staff-customer-reply")
    page.get_by_label("Object to the closure", exact=True).check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator(".notice")).to_contain_text("Decision recorded")
    with stack.client("admin") as api:
        review = open_task(api, case_id, "objection_review", timeout=60)
    assert review["assignee"] == SAM
    # The case page lists what came back, with the task it became.
    page.goto(f"{stack.api_url}/cases/{case_id}")
    listed = page.locator("#replies")
    expect(listed).to_contain_text("Please don't close it: I was on leave.")
    expect(listed.get_by_role("link", name="Task")).to_have_attribute(
        "href", f"/tasks/{task['id']}"
    )
