"""The pages a customer reaches from a notice work for everyone: no serious accessibility
violation by axe-core (run in Chromium), every answer given without JavaScript, and the
customer reads them in English or Chinese as they choose, against the real stack."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import screenshot
from tests.integration.helpers import new_customer, open_case, poll
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration
LINK = re.compile(r"https?://[^\s\"<>]+/r/[A-Za-z0-9._~-]+")


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each."""
    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def no_script(browser: Browser) -> Iterator[Page]:
    """A page of a browser with JavaScript off (axe runs through the DevTools protocol, which
    it does not need)."""
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


def _notice_links(stack: Stack, customer: str) -> list[str]:
    """The links of the customer's advance notice: object, download their data, confirm, and
    delete my data."""
    mail = poll(
        lambda: next(
            (
                m
                for m in stack.mail.messages
                if customer in str(m["To"]) and "will be closed" in str(m["Subject"])
            ),
            None,
        ),
        "the advance notice",
    )
    return sorted(set(LINK.findall(stack.mail.parts(mail)["text/plain"])))


def test_answer_pages_pass_axe_work_without_javascript_and_switch_language(
    stack: Stack, page: Page, no_script: Page
) -> None:
    customer = new_customer(stack)
    with stack.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]
        links = _notice_links(stack, customer)  # the win-back window (8 s) passes first
    assert len(links) == 4, links  # object, download, confirm, delete my data
    for link in links:
        page.goto(link)
        expect(page.get_by_role("button")).to_be_visible()
        assert serious_violations(page) == [], link

    # Without JavaScript, in Chinese: the objection is given and confirmed.
    objection = next(link for link in links if (page.goto(link) and "Object" in page.title()))
    no_script.goto(objection)
    expect(no_script.get_by_role("heading", level=1)).to_have_text("Object to the closure")
    no_script.get_by_role("link", name="中文").click()
    expect(no_script.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(no_script.get_by_role("heading", level=1)).to_have_text("对关闭提出异议")
    screenshot(no_script, "answer-confirm-zh")
    no_script.get_by_role("textbox").fill("我在休假。请不要关闭账户。")
    no_script.get_by_role("button", name="提交我的异议").click()
    expect(no_script.get_by_role("heading", level=1)).to_have_text("谢谢")
    assert no_script.url.endswith("?lang=zh-CN")
    # The page in English again, by the customer's choice.
    no_script.get_by_role("link", name="English").click()
    expect(no_script.get_by_role("heading", level=1)).to_have_text("Thank you")
    with stack.client("owner") as api:
        poll(
            lambda: (
                "customer_object"
                in [e["action"] for e in api.get(f"/api/cases/{case_id}").json()["timeline"]]
            ),
            "the objection on the case",
        )

    # The done and refused pages pass too (the link is used: refused, and said so).
    page.goto(f"{objection.split('?')[0]}/done")
    assert serious_violations(page) == []
    page.goto(objection)
    page.get_by_role("textbox").fill("again")
    page.get_by_role("button").click()
    expect(page.locator(".error, h1")).not_to_have_count(0)
    assert serious_violations(page) == []


def test_the_public_request_form_starts_a_request_once_confirmed_from_the_mailbox(
    stack: Stack, page: Page, no_script: Page
) -> None:
    """Without JavaScript: the form, the mail, the confirmation; a case on the law's clock,
    the requester's identity proven by the mailbox (no identity check task)."""
    from closeout.crm.reference import ReferenceCrm

    customer = new_customer(stack)
    contact = ReferenceCrm(stack.db).primary_contact(customer)
    assert contact is not None
    no_script.goto(f"{stack.api_url}/privacy/request")
    assert serious_violations(page_for_axe(page, no_script.url)) == []
    no_script.get_by_label("E-mail address").fill(contact.email)
    no_script.get_by_role("button", name="Send me the link").click()
    expect(no_script.get_by_role("status")).to_contain_text("If we hold an account under")
    assert serious_violations(page_for_axe(page, no_script.url, contact.email)) == []
    mail = poll(
        lambda: next(
            (m for m in stack.mail.messages if "Confirm your request" in str(m["Subject"])),
            None,
        ),
        "the confirmation mail",
    )
    link = re.search(r"https?://\S+/privacy/request/\S+", stack.mail.parts(mail)["text/plain"])
    assert link is not None and str(mail["To"]) == contact.email
    no_script.goto(link.group(0))
    no_script.get_by_role("button", name="Delete my data").click()
    expect(no_script.get_by_role("heading", level=1)).to_have_text("Thank you")
    with stack.client("admin") as api:
        case = poll(
            lambda: next(
                (c for c in api.get("/api/requests").json() if c["customer_id"] == customer),
                None,
            ),
            "the request on the compliance list",
        )
        detail = api.get(f"/api/cases/{case['case_id']}").json()
    assert detail["trigger"] == "customer_request"
    assert detail["evidence"]["identity_verified"] is True
    assert "approval" not in [t["kind"] for t in detail["tasks"]]


def page_for_axe(page: Page, url: str, email: str | None = None) -> Page:
    """The same page opened where axe can run (it needs JavaScript): the form, or the answer
    to a submitted address."""
    if email is None:
        page.goto(url)
    else:
        page.goto(url.split("?")[0])
        page.get_by_label("E-mail address").fill(email)
        page.get_by_role("button", name="Send me the link").click()
    return page
