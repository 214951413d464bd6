"""A compliance officer at work in the browser, against the real stack: a hold placed from the
case's page keeps everything past the retention end, its release lets deletion run, and the
certificate is there to print."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.test_staff_pages import case_at_approval, sign_in
from tests.integration.helpers import decide, open_task, wait_case
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

KIM = "kim.compliance@example.com"
SAM = "sam.okafor@example.com"


def test_hold_keeps_the_data_past_its_clock_then_release_and_certificate(
    stack: Stack, page: Page
) -> None:
    case_id = case_at_approval(stack, SAM)
    with stack.client("admin") as api:
        approval = open_task(api, case_id, "approval")
        assert decide(api, approval["id"], "approve", comment="no answer").status_code == 202
        customer = api.get(f"/api/cases/{case_id}").json()["customer_id"]

    # Kim places a hold from the case's page while the notice period runs.
    sign_in(page, stack, KIM)
    page.goto(f"{stack.api_url}/cases/{case_id}")
    page.get_by_label("Place a legal hold: why").fill("tax audit of 2026")
    page.get_by_label("Reference (case or audit number)").fill("AUD-2026-7")
    page.get_by_label("Review on").fill("2030-01-31")
    page.get_by_role("button", name="Place legal hold").click()
    expect(page.locator(".notice")).to_contain_text("Legal hold placed")
    expect(page.locator("#holds")).to_contain_text("tax audit of 2026")

    # The case archives; every category's clock runs out while the hold stands.
    with stack.client("admin") as api:
        retained = wait_case(api, case_id, stage="retention", timeout=120)
        retention_end = datetime.fromisoformat(retained["retention_end"])
        while datetime.now(UTC) < retention_end:
            time.sleep(0.5)
        time.sleep(2)
        held = api.get(f"/api/cases/{case_id}").json()
        assert held["stage"] == "retention" and held["outcome"] is None
    page.goto(f"{stack.api_url}/compliance")
    row = page.locator("tr.held", has=page.get_by_text(customer))
    expect(row).to_contain_text("on hold")
    expect(row).to_contain_text("Contact data: 0 days")
    screenshot(page, "compliance-retention")

    # Released: deletion runs for everything that is due.
    page.get_by_role("link", name="Legal holds").click()
    hold_row = page.locator("#active-holds tr[data-hold]", has=page.get_by_text("AUD-2026-7"))
    hold_row.get_by_label("Why it can go").fill("audit closed without findings")
    screenshot(page, "compliance-holds")
    hold_row.get_by_role("button", name="Release").click()
    expect(page.locator(".notice")).to_contain_text("The hold was released")
    with stack.client("admin") as api:
        wait_case(api, case_id, outcome="deleted", timeout=120)

    # The certificate: listed, printable, downloadable.
    page.get_by_role("link", name="Certificates").click()
    page.locator("tr", has=page.get_by_text(customer)).get_by_role("link", name="View").click()
    expect(page).to_have_url(re.compile(rf"/compliance/certificates/{case_id}$"))
    expect(page.get_by_role("heading", name="Certificate of deletion")).to_be_visible()
    expect(page.get_by_text("signature valid")).to_be_visible()
    expect(page.locator("table")).to_contain_text("Invoices and accounting records")
    screenshot(page, "compliance-certificate")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download (JSON)").click()
    assert download.value.suggested_filename.startswith("deletion-certificate-")


def test_move_one_category_correct_the_churn_class_and_reactivate(stack: Stack, page: Page) -> None:
    case_id = case_at_approval(stack, SAM)
    with stack.client("admin") as api:
        # A hold keeps every category past its clock, so there is time to act on them.
        held = api.post(f"/api/cases/{case_id}/legal-holds", json={"reason": "tax audit"})
        assert held.status_code == 201, held.text
        approval = open_task(api, case_id, "approval")
        assert decide(api, approval["id"], "approve", comment="no answer").status_code == 202
        wait_case(api, case_id, stage="retention", timeout=120)

    # Kim moves the contracts' end only: the other categories keep theirs.
    sign_in(page, stack, KIM)
    page.goto(f"{stack.api_url}/cases/{case_id}")
    expect(page.locator("#category-clocks")).not_to_contain_text("2031")
    page.get_by_label("Data category").select_option("contracts")
    page.get_by_label("New retention end").fill("2031-01-31")
    page.get_by_label("Why", exact=True).fill("warranty claims until 2031")
    screenshot(page, "compliance-move-one-category")
    page.get_by_role("button", name="Move retention end").click()
    expect(page.locator(".notice")).to_contain_text("The retention end was moved.")
    expect(page.locator("#category-clocks")).to_contain_text("Contracts: 2031-01-31")
    with stack.client("admin") as api:
        case = api.get(f"/api/cases/{case_id}").json()
    ends = {c["category"]: c["ends_at"][:10] for c in case["category_clocks"]}
    assert ends["contracts"] == "2031-01-31"
    assert sum(end == "2031-01-31" for end in ends.values()) == 1, ends
    moved = [e for e in case["timeline"] if e["action"] == "retention_changed"]
    assert moved and moved[-1]["actor"] == KIM
    assert moved[-1]["reason"] == "warranty claims until 2031"

    # Without a reason the move is refused, explained, the form kept as filled in.
    page.get_by_label("Data category").select_option("contracts")
    page.get_by_label("New retention end").fill("2032-01-31")
    page.get_by_label("Why", exact=True).fill("")
    page.get_by_role("button", name="Move retention end").click()
    expect(page.locator("#action-error")).to_have_text(
        "moving the retention end needs a date and a reason"
    )
    expect(page.get_by_label("Data category")).to_have_value("contracts")
    expect(page.get_by_label("New retention end")).to_have_value("2032-01-31")

    # Sam, the owner, corrects the churn class and brings the customer back.
    sign_in(page, stack, SAM)
    page.goto(f"{stack.api_url}/cases/{case_id}")
    page.get_by_label("Why the customer really left").select_option("competitive")
    page.get_by_label("Why the correction").fill("told us they moved to a competitor")
    page.get_by_role("button", name="Correct churn class").click()
    expect(page.locator(".notice")).to_contain_text("The churn class was corrected.")
    page.get_by_label("Reactivate the customer: why").fill("signed a new contract")
    page.get_by_role("button", name="Reactivate").click()
    expect(page.locator(".notice")).to_contain_text("The customer is being reactivated")
    with stack.client("admin") as api:
        ended = wait_case(api, case_id, outcome="reactivated", timeout=120)
    assert ended["churn_class"] == "competitive"
    corrected = [e for e in ended["timeline"] if e["action"] == "churn_class_corrected"]
    assert corrected and corrected[0]["details"] == {"from": "natural", "to": "competitive"}


def test_a_customers_own_request_is_listed_by_days_left_and_given_more_time(
    stack: Stack, page: Page
) -> None:
    """A customer asks to be deleted: no win-back, the owner's identity check opens at once;
    Kim finds it among the requests, gives it more time with a reason, and the customer is
    told by mail."""
    from tests.integration.helpers import new_customer, open_case

    customer = new_customer(stack, owner=SAM)
    with stack.client("admin") as api:
        case_id = str(
            open_case(
                api,
                customer,
                trigger="customer_request",
                evidence={"channel": "phone", "requested_on": "2026-12-01"},
            )["case_id"]
        )
        open_task(api, case_id, "approval", timeout=60)
        assert [t["kind"] for t in api.get(f"/api/cases/{case_id}").json()["tasks"]] == ["approval"]
    sign_in(page, stack, KIM)
    page.get_by_role("link", name="Requests").click()
    row = page.locator(f'tr[data-case="{case_id}"]')
    expect(row).to_contain_text("29")  # days left of the 30
    screenshot(page, "compliance-requests")
    row.get_by_role("link", name="Open case").click()
    page.get_by_label("New due date").fill("2027-01-20")
    page.get_by_label("Reason (mailed to the customer)").fill("archived invoices to retrieve")
    page.get_by_role("button", name="Extend").click()
    expect(page.locator(".notice")).to_contain_text("given more time")
    with stack.client("admin") as api:
        due = api.get("/api/requests").json()
    assert [r["due_at"][:10] for r in due if r["case_id"] == case_id] == ["2027-01-20"]
    told = [m for m in stack.mail.messages if "more time" in str(m["Subject"])]
    assert told and "archived invoices to retrieve" in stack.mail.parts(told[-1])["text/plain"]
