"""A case end to end with a Salesforce org as the customer source and the only system holding
the customer: the real dev server, worker and API, the org a local server answering with the
REST API's shapes (tests/connectors/salesforce_server.py), reached over HTTPS with its CA."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connectors.salesforce_server import LocalSalesforce, local_salesforce
from tests.integration.helpers import decide, open_case, open_task, wait_case
from tests.integration.stack import Stack, start_stack

pytestmark = pytest.mark.integration
TOKEN = "00Dxx0000001gPL!" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def salesforce(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, LocalSalesforce]]:
    with local_salesforce(tmp_path_factory.mktemp("salesforce"), TOKEN) as org:
        connectors = [
            {"kind": "salesforce", "name": "salesforce", "instance_url": org.url,
             "token": TOKEN, "ca_file": str(org.ca_file), "source": True,
             "status_field": "Closeout_Status__c", "default_owner": "li.na@example.com"},
        ]  # fmt: skip
        root = Path(tmp_path_factory.mktemp("salesforce-stack"))
        for stack in start_stack(root, CLOSEOUT_CONNECTORS=json.dumps(connectors)):
            yield stack, org


def test_a_salesforce_account_is_closed_and_deleted_from_salesforce(
    salesforce: tuple[Stack, LocalSalesforce],
) -> None:
    stack, org = salesforce
    customer = f"it-{uuid.uuid4().hex[:8]}"
    account = org.account(customer, owner="li.na@example.com")
    with stack.client("owner") as api:
        found = api.get("/api/customers", params={"q": customer})
        assert found.status_code == 200, found.text
        (listed,) = found.json()["items"]
        assert (listed["name"], listed["owner"]) == (f"Globex {customer}", "li.na@example.com")
        assert api.get("/api/customers/it-nobody").status_code == 404
        case_id = open_case(api, customer)["case_id"]
        assert decide(api, open_task(api, case_id, "win_back")["id"], "failed").status_code == 202
        approval = open_task(api, case_id, "approval")
        assert decide(api, approval["id"], "approve", comment="gone").status_code == 202
        final = wait_case(api, case_id, outcome="deleted", timeout=180)
    # The notices went to the account's first contact with an address.
    to_customer = [m for m in stack.mail.messages if "hank@globex.example" in str(m["To"])]
    assert len(to_customer) >= 3
    # The status the company's people saw on the account, in order.
    written = [v["Closeout_Status__c"] for o, i, v in org.org.updates if i == account]
    assert written[:1] == ["closing"] and "closed" in written
    events = {e["action"]: e for e in final["timeline"]}
    backed_up = events["backup_created"]["details"]["record_counts"]
    assert backed_up["salesforce.customer"] == 1 and backed_up["salesforce.Contact"] == 2
    assert "customer" not in backed_up  # the reference CRM took no part
    with org.org.lock:
        assert not any(a["Closeout_Id__c"] == customer for a in org.org.records["Account"].values())
    with stack.client("compliance") as compliance:
        certificate = compliance.get(f"/api/cases/{case_id}/certificate").json()
    assert certificate["authentic"]
    checked = certificate["certificate"]["verification"]["stores_checked"]
    assert checked[0] == "salesforce" and "crm" not in checked
