"""Account managers and managers at work in the browser, against the real stack."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from closeout.domain import ValueTier
from closeout.users.accounts import DEMO_PASSWORD
from tests.browser.conftest import screenshot
from tests.integration.helpers import new_customer, open_case, open_task, wait_case
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

SAM = "sam.okafor@example.com"
MARIA = "maria.rossi@example.com"
GRACE = "grace.manager@example.com"
ADMIN = "admin@example.com"


def sign_in(page: Page, stack: Stack, email: str, shot: str | None = None) -> None:
    page.context.clear_cookies()
    page.goto(f"{stack.api_url}/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    if shot:
        screenshot(page, shot)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def case_at_approval(stack: Stack, owner: str, tier: ValueTier = ValueTier.STANDARD) -> str:
    """A case whose win-back window has passed: its approval task waits for the owner."""
    customer = new_customer(stack, tier=tier, owner=owner)
    with stack.client("admin") as api:
        case_id = str(open_case(api, customer)["case_id"])
        open_task(api, case_id, "approval", timeout=90)
    return case_id


def case_at_win_back(stack: Stack, owner: str) -> tuple[str, str]:
    """A new customer's case waiting on its win-back task: (customer id, case id)."""
    customer = new_customer(stack, owner=owner)
    with stack.client("admin") as api:
        case_id = str(open_case(api, customer)["case_id"])
        open_task(api, case_id, "win_back", timeout=90)
    return customer, case_id


def until_shown(page: Page, selector: str, check: Callable[[str], bool], what: str) -> None:
    """The case page shows the read model as the decision left it; the workflow moves the case
    on a moment later: reload until the page shows it."""
    deadline = time.monotonic() + 60
    while not check(page.locator(selector).inner_text()):
        assert time.monotonic() < deadline, f"the case page never showed {what}"
        time.sleep(0.5)
        page.reload()


def decide(page: Page, decision: str, comment: str = "") -> None:
    page.get_by_label(decision, exact=True).check()
    page.get_by_label("Comment (required to reject or defer)").fill(comment)
    page.get_by_role("button", name="Record decision").click()


def test_claim_approve_and_watch_the_case_advance(stack: Stack, page: Page) -> None:
    case_id = case_at_approval(stack, SAM)
    sign_in(page, stack, SAM, shot="staff-sign-in")
    row = page.locator("tr[data-task]", has=page.get_by_text("Approval", exact=True))
    expect(row).to_have_count(1)
    screenshot(page, "staff-inbox")
    row.get_by_role("link", name="Open task").click()
    # Handing the task back puts it in the group queue, where anyone in the group claims it.
    page.get_by_role("button", name="Give back to the queue").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    page.get_by_role("link", name=re.compile("Group queue")).click()
    queued = page.locator("tr[data-task]", has=page.get_by_text("Approval", exact=True))
    queued.get_by_role("button", name="Claim").click()
    expect(page.get_by_role("heading", level=2, name="Decision")).to_be_visible()
    screenshot(page, "staff-task")
    decide(page, "Approve")
    expect(page.locator(".notice")).to_contain_text("Decision recorded: Approve")
    until_shown(page, "#stage", lambda text: text != "Approval", "the case past approval")
    with stack.client("admin") as api:
        wait_case(api, case_id, outcome="deleted", timeout=120)
    page.reload()
    expect(page.locator("#outcome")).to_have_text("Deleted")
    expect(page.locator("ol.stages li[data-state=done]")).to_have_count(9)
    screenshot(page, "staff-case")


def test_reject_needs_a_comment(stack: Stack, page: Page) -> None:
    case_id = case_at_approval(stack, SAM)
    with stack.client("admin") as api:
        task_id = open_task(api, case_id, "approval")["id"]
    sign_in(page, stack, SAM)
    page.goto(f"{stack.api_url}/tasks/{task_id}")
    decide(page, "Reject")
    expect(page.locator(".error")).to_contain_text("a comment is required to reject")
    screenshot(page, "staff-task-refused")
    with stack.client("admin") as api:
        assert api.get(f"/api/cases/{case_id}").json()["stage"] == "approval"
    decide(page, "Reject", "the customer renewed by phone")
    until_shown(page, "#outcome", lambda text: text == "Rejected", "the case rejected")


def test_delegation_and_four_eyes(stack: Stack, page: Page) -> None:
    case_id = case_at_approval(stack, SAM, tier=ValueTier.HIGH)
    with stack.client("admin") as api:
        task_id = open_task(api, case_id, "approval")["id"]
    sign_in(page, stack, SAM)
    page.goto(f"{stack.api_url}/tasks/{task_id}")
    page.get_by_text("Delegate", exact=True).first.click()
    page.get_by_label("Delegate to").select_option(MARIA)
    page.get_by_label("Note for them").fill("you negotiated their contract")
    page.get_by_role("button", name="Delegate").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))

    sign_in(page, stack, MARIA)
    page.locator(f"tr[data-task='{task_id}']").get_by_role("link", name="Open task").click()
    expect(page.locator("dd", has_text="you negotiated their contract")).to_be_visible()

    # A manager gives the first approval (managers may act on any task) ...
    sign_in(page, stack, GRACE)
    page.goto(f"{stack.api_url}/tasks/{task_id}")
    decide(page, "Approve")
    with stack.client("admin") as api:
        second = open_task(api, case_id, "second_approval")["id"]
    # ... and cannot give the second one too.
    page.goto(f"{stack.api_url}/inbox?view=queue")
    page.locator(f"tr[data-task='{second}']").get_by_role("button", name="Claim").click()
    decide(page, "Approve")
    expect(page.locator(".error")).to_contain_text("someone other than the first approver")
    screenshot(page, "staff-four-eyes")
    page.get_by_role("button", name="Give back to the queue").click()

    sign_in(page, stack, ADMIN)
    page.goto(f"{stack.api_url}/tasks/{second}")
    decide(page, "Approve")
    until_shown(page, "#stage", lambda text: text != "Approval", "the case past approval")


def test_wrong_role_and_forged_forms_are_refused(stack: Stack, page: Page) -> None:
    case_id = case_at_approval(stack, "li.na@example.com")
    with stack.client("admin") as api:
        task_id = open_task(api, case_id, "approval")["id"]
    sign_in(page, stack, SAM)
    for path in (f"/tasks/{task_id}", f"/cases/{case_id}", "/compliance"):
        response = page.goto(f"{stack.api_url}{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("You may not do this")
    screenshot(page, "staff-forbidden")
    # The session cookie rides along, the CSRF token does not: refused, nothing changes.
    forged = page.request.post(f"{stack.api_url}/tasks/{task_id}/unclaim", form={"note": "x"})
    assert forged.status == 403
    with stack.client("admin") as api:
        assert open_task(api, case_id, "approval")["assignee"] == "li.na@example.com"
        events = api.get(f"/api/cases/{case_id}").json()["timeline"]
    assert any(e["action"] == "access_denied" and e["actor"] == SAM for e in events)


def test_open_a_manual_case_from_the_form(stack: Stack, page: Page) -> None:
    customer = new_customer(stack, owner=SAM)
    sign_in(page, stack, SAM)
    page.get_by_role("link", name="Cases", exact=True).click()
    page.get_by_role("link", name="Open a case").click()
    page.get_by_label("Find the customer (name, e-mail or id)").fill(customer)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=f"Integration {customer}").click()
    expect(page.get_by_label("Customer id")).to_have_value(customer)
    page.get_by_label("Trigger").select_option("manual")
    page.get_by_label("Reason").fill("abusive language towards support, twice")
    expect(page.get_by_label("Policy")).to_have_count(0)  # the rules choose it (demo)
    screenshot(page, "staff-new-case")
    page.get_by_role("button", name="Open the case").click()
    expect(page).to_have_url(re.compile(r"/cases/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(customer)
    expect(page.locator("dd", has_text="Manual")).to_be_visible()
    with stack.client("admin") as api:
        cases = api.get("/api/cases", params={"open": True}).json()["items"]
    mine = [c for c in cases if c["customer_id"] == customer]
    assert len(mine) == 1 and mine[0]["opened_by"] == SAM and mine[0]["policy"] == "demo"


def test_record_an_answer_cancel_and_see_the_customer_cool_down(stack: Stack, page: Page) -> None:
    customer, case_id = case_at_win_back(stack, SAM)
    sign_in(page, stack, SAM)
    page.goto(f"{stack.api_url}/cases/{case_id}")
    # An answer the customer gave by phone, recorded as theirs.
    page.get_by_label("Their answer").select_option("object")
    page.get_by_label("Given by").select_option("phone")
    page.get_by_label("What they said").fill("on leave until March, please wait")
    screenshot(page, "staff-case-actions")
    page.get_by_role("button", name="Record answer").click()
    expect(page.locator(".notice")).to_contain_text("The customer's answer was recorded.")
    with stack.client("admin") as api:
        timeline = api.get(f"/api/cases/{case_id}").json()["timeline"]
    answered = [e for e in timeline if e["action"] == "customer_object"]
    assert answered and answered[0]["actor"] == SAM
    assert answered[0]["reason"] == "phone: on leave until March, please wait"

    # Cancelling needs a reason; with one, the closure is undone.
    page.get_by_role("button", name="Cancel closure").click()
    expect(page.locator("#action-error")).to_have_text("cancelling needs a reason")
    page.get_by_label("Cancel the closure: why").fill("paid everything, by phone")
    page.get_by_role("button", name="Cancel closure").click()
    expect(page.locator(".notice")).to_contain_text("The closure was cancelled")
    with stack.client("admin") as api:
        wait_case(api, case_id, outcome="cancelled", timeout=90)

    # The customer's page: the cases, the cool-down after this one, an exclusion by form.
    page.get_by_role("link", name=customer, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/customers/{customer}$"))
    expect(page.locator(f'tr[data-case="{case_id}"]')).to_contain_text("Cancelled")
    expect(page.locator("#cool-down")).to_contain_text(f"after case {case_id[:8]} ended")
    page.get_by_label("Why the scan should leave them alone").fill("renegotiating the contract")
    page.get_by_label("Until (at most a year away)").fill(
        (date.today() + timedelta(days=60)).isoformat()
    )
    page.get_by_role("button", name="Exclude").click()
    expect(page.locator("#exclusions")).to_contain_text("renegotiating the contract")
    screenshot(page, "staff-customer")


def test_approve_several_tasks_at_once(stack: Stack, page: Page) -> None:
    cases = [case_at_approval(stack, SAM) for _ in range(2)]
    sign_in(page, stack, SAM)
    with stack.client("admin") as api:
        tasks = [open_task(api, case_id, "approval")["id"] for case_id in cases]
    for task_id in tasks:
        page.locator(f'tr[data-task="{task_id}"] input[type=checkbox]').check()
    page.get_by_label("With the ticked tasks").select_option("approve")
    screenshot(page, "staff-inbox-bulk")
    page.get_by_role("button", name="Go").click()
    for task_id in tasks:
        expect(page.locator(f'tr[data-bulk-task="{task_id}"]')).to_contain_text("Approved")
    expect(page.locator(f'tr[data-task="{tasks[0]}"]')).to_have_count(0)  # done: gone
    screenshot(page, "staff-inbox-bulk-done")
    with stack.client("admin") as api:
        for case_id in cases:
            wait_case(api, case_id, outcome="deleted", timeout=120)


def test_insights_for_a_manager(stack: Stack, page: Page) -> None:
    case_at_win_back(stack, SAM)
    sign_in(page, stack, GRACE)
    page.get_by_role("link", name="Insights").click()
    expect(page).to_have_url(re.compile(r"/insights$"))
    opened = page.locator('#funnel tr[data-step="opened"]')
    expect(opened).to_be_visible()
    assert int(opened.locator("td").nth(1).inner_text()) >= 1
    page.get_by_label("Trigger").select_option("inactivity")
    page.get_by_label("Win-back rate by").select_option("owner")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"trigger=inactivity"))
    expect(page.locator("#opened tr[data-trigger]")).to_have_count(1)
    screenshot(page, "staff-insights")
    with page.expect_download() as download:
        page.locator("#funnel").get_by_role("link", name="Download as CSV").click()
    saved = download.value.path()
    assert saved is not None and saved.read_text().startswith("step,cases,rate")


def test_review_a_duplicate_record_and_merge_it(stack: Stack, page: Page) -> None:
    survivor = new_customer(stack, owner=SAM)
    duplicate = new_customer(stack, owner=SAM)
    evidence = {"problem": "duplicate", "duplicate_of": [survivor], "same": ["email"]}
    with stack.client("admin") as api:
        opened = open_case(api, duplicate, trigger="data_quality", evidence=evidence)
        case_id = str(opened["case_id"])
        task = open_task(api, case_id, "data_review", timeout=90)
    sign_in(page, stack, SAM)
    page.goto(f"{stack.api_url}/tasks/{task['id']}")
    expect(page.get_by_text(survivor).first).to_be_visible()  # the evidence names it
    # A merge without its target is refused on the page, the choice kept.
    page.get_by_label("Merge into the record it duplicates").check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator(".error")).to_contain_text("merge into one of the duplicates found")
    page.get_by_label("Merge into the record it duplicates").check()
    page.get_by_label("Merge into (the record it duplicates)").select_option(survivor)
    page.get_by_label("Comment (required to invalidate)").fill("same company, two sign-ups")
    screenshot(page, "staff-data-review")
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator(".notice")).to_contain_text("Decision recorded")
    with stack.client("admin") as api:
        ended = wait_case(api, case_id, outcome="merged", timeout=90)
        assert api.get(f"/api/customers/{duplicate}").json()["status"] == "merged"
        assert api.get(f"/api/customers/{survivor}").json()["status"] == "active"
    merged = [e for e in ended["timeline"] if e["action"] == "customer_merged"]
    assert merged and merged[0]["details"]["merge_into"] == survivor
    assert merged[0]["actor"] == SAM
    page.reload()
    expect(page.locator("#outcome")).to_have_text("Merged")
