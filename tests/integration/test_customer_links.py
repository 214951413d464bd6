"""A customer answers from the e-mail: the links work once, only as signed, only in time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from closeout.domain import CustomerResponse
from closeout.links import CustomerLink, LinkKind, LinkSigner
from closeout.settings import DEV_SECRET
from tests.integration.helpers import decide, new_customer, open_case, open_task, poll, wait_case
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration


def _link(stack: Stack, customer: str, subject: str, action: str) -> str:
    def find() -> str | None:
        for message in stack.mail.messages:
            if customer in str(message["To"]) and subject in str(message["Subject"]):
                text = stack.mail.parts(message)["text/plain"]
                for url in re.findall(r"http://\S+/r/\S+", text):
                    token = url.rsplit("/r/", 1)[1]
                    if LinkSigner(DEV_SECRET).verify(token).action == action:
                        return str(url)
        return None

    return str(poll(find, f"a {action} link in the {subject!r} mail", 30))


def test_stay_link_confirms_then_refuses_reuse(stack: Stack) -> None:
    customer = new_customer(stack)
    with stack.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]
        url = _link(stack, customer, "keep you", "stay")
        assert url.startswith(stack.api_url)

        page = httpx.get(url)
        assert page.status_code == 200 and "Yes, I want to stay" in page.text
        assert api.get(f"/api/cases/{case_id}").json()["outcome"] is None  # a GET changes nothing

        answered = httpx.post(url, follow_redirects=False)
        assert answered.status_code == 303
        assert answered.headers["location"].endswith("/done")
        assert "want to stay" in httpx.get(f"{url}/done").text
        final = wait_case(api, case_id, outcome="retained")
        assert "customer_stay" in [e["action"] for e in final["timeline"]]

        again = httpx.post(url)
        assert again.status_code == 409 and "already been used" in again.text


def test_forged_and_expired_links_change_nothing(stack: Stack) -> None:
    customer = new_customer(stack)
    with stack.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]
        url = _link(stack, customer, "keep you", "stay")
        token = url.rsplit("/r/", 1)[1]
        tampered = token[:-3] + ("abc" if not token.endswith("abc") else "xyz")
        for bad in (f"{stack.api_url}/r/{tampered}", f"{stack.api_url}/r/garbage"):
            assert httpx.get(bad).status_code == 400
            refused = httpx.post(bad)
            assert refused.status_code == 400 and "not valid" in refused.text

        expired = LinkSigner(DEV_SECRET).sign(
            CustomerLink(
                "old.stay", case_id, CustomerResponse.STAY, datetime.now(UTC) - timedelta(minutes=1)
            )
        )
        response = httpx.post(f"{stack.api_url}/r/{expired}")
        assert response.status_code == 410 and "expired" in response.text

        case = api.get(f"/api/cases/{case_id}").json()
        assert case["outcome"] is None and case["stage"] == "win_back"
        refusals = [e for e in case["timeline"] if e["action"] == "customer_link_refused"]
        assert [e["reason"] for e in refusals] == ["expired"]
        api.post(f"/api/cases/{case_id}/cancel", json={"reason": "test over"})


def test_objection_link_needs_text_and_reaches_the_owner(stack: Stack) -> None:
    customer = new_customer(stack)
    with stack.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]
        decide(api, open_task(api, case_id, "win_back")["id"], "failed")
        url = _link(stack, customer, "will be closed", "object")
        empty = httpx.post(url, data={"comment": "  "})
        assert empty.status_code == 422 and "Please tell us why" in empty.text
        sent = httpx.post(
            url, data={"comment": "We paid every invoice last week."}, follow_redirects=True
        )
        assert sent.status_code == 200 and "objection" in sent.text
        review = open_task(api, case_id, "objection_review")
        assert review["assignee"] == "li.na@example.com" and "We paid" in review["note"]
        api.post(f"/api/cases/{case_id}/cancel", json={"reason": "test over"})


def test_customer_downloads_their_data_behind_a_fresh_link(stack: Stack) -> None:
    customer = new_customer(stack)
    with stack.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]
        decide(api, open_task(api, case_id, "win_back")["id"], "failed")
        url = _link(stack, customer, "will be closed", "download_data")
        assert "Prepare my data" in httpx.get(url).text
        assert httpx.post(url, follow_redirects=True).status_code == 200

        def export_link() -> str | None:
            for message in stack.mail.messages:
                if customer in str(message["To"]) and "ready to download" in str(
                    message["Subject"]
                ):
                    found = re.findall(
                        r"http://\S+/exports/\S+", stack.mail.parts(message)["text/plain"]
                    )
                    return str(found[0]) if found else None
            return None

        download = str(poll(export_link, "the data-export mail", 30))
        response = httpx.get(download)
        assert (
            response.status_code == 200 and "attachment" in response.headers["content-disposition"]
        )
        data = response.json()
        assert data["customer"][0]["id"] == customer and len(data["orders"]) == 12
        assert httpx.get(download + "x").status_code == 400
        token = download.rsplit("/exports/", 1)[1]
        link = LinkSigner(DEV_SECRET).verify(token, kind=LinkKind.EXPORT)
        old = LinkSigner(DEV_SECRET).sign(
            CustomerLink(
                link.link_id, case_id, link.action, datetime.now(UTC) - timedelta(seconds=1)
            ),
            LinkKind.EXPORT,
        )
        assert httpx.get(f"{stack.api_url}/exports/{old}").status_code == 410
        # An export link is no answer link: signed apart, it is forged there.
        assert httpx.get(f"{stack.api_url}/r/{token}").status_code == 400
        actions = [e["action"] for e in api.get(f"/api/cases/{case_id}").json()["timeline"]]
        assert "data_export_prepared" in actions
        api.post(f"/api/cases/{case_id}/cancel", json={"reason": "test over"})


def test_pages_speak_the_customers_language(stack: Stack) -> None:
    customer = new_customer(stack, locale="zh-CN")
    with stack.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]
        url = _link(stack, customer, "我们希望留住您", "stay")
        page = httpx.get(url)
        assert page.status_code == 200 and 'lang="zh-CN"' in page.text
        assert "保留我的账户" in page.text and "我想留下" in page.text
        forged = httpx.get(url[:-3] + "abc")
        assert (
            forged.status_code == 400 and "This link is not valid" in forged.text
        )  # no case known
        api.post(f"/api/cases/{case_id}/cancel", json={"reason": "test over"})
