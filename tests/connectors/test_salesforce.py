"""The Salesforce adapter's own cases, against the local server answering with the REST API's
shapes (tests/connectors/salesforce_server.py); the data contract runs on it too."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from closeout.connectors.config import parse_connectors
from closeout.connectors.errors import (
    AmbiguousCustomer,
    ConnectorTimeout,
    ConnectorUnavailable,
    CredentialRefused,
    RateLimited,
)
from closeout.connectors.salesforce import SalesforceData
from closeout.domain import DataCategory
from closeout.settings import Settings
from closeout.suppression.ledger import ledger_from
from tests.connectors.salesforce_server import LocalSalesforce, local_salesforce

TOKEN = "00Dxx0000001gPL!" + uuid.uuid4().hex


@pytest.fixture
def org(tmp_path: Path) -> Iterator[LocalSalesforce]:
    with local_salesforce(tmp_path, TOKEN) as found:
        yield found


def _adapter(settings: Settings, org: LocalSalesforce, **options: object) -> SalesforceData:
    values: dict[str, object] = {"ca_file": str(org.ca_file), "timeout": 5.0} | options
    token = values.pop("token", lambda: TOKEN)
    return SalesforceData("salesforce", org.url, token, ledger_from(settings), **values)  # type: ignore[arg-type]


def test_check_says_what_the_org_lacks(settings: Settings, org: LocalSalesforce) -> None:
    assert _adapter(settings, org).check() == []
    assert _adapter(settings, org, customer_field="Wrong__c").check() == ["Account.Wrong__c"]


def test_a_customer_under_two_accounts_is_refused(settings: Settings, org: LocalSalesforce) -> None:
    customer = "cust-" + uuid.uuid4().hex[:8]
    org.account(customer)
    org.account(customer)
    with pytest.raises(AmbiguousCustomer):
        _adapter(settings, org).export(customer)


def test_deletion_goes_two_hundred_records_a_call(settings: Settings, org: LocalSalesforce) -> None:
    customer = "cust-" + uuid.uuid4().hex[:8]
    account = org.account(customer)
    for n in range(248):
        org.org.create("Task", {"WhatId": account, "Subject": f"Call {n}", "Status": "Completed"})
    system = _adapter(settings, org)
    assert system.minimise(customer) == {"Case": 1, "Task": 250}
    system.delete(customer, list(DataCategory))
    assert system.remaining(customer) == {}
    assert org.org.records["Account"] == {} and org.org.records["Task"] == {}


def test_a_refused_token_is_typed_and_a_renewed_one_taken_up(
    settings: Settings, org: LocalSalesforce, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("expired-token")
    system = _adapter(settings, org, token=lambda: token_file.read_text())
    with pytest.raises(CredentialRefused) as refused:
        system.check()
    assert "expired-token" not in str(refused.value)
    token_file.write_text(TOKEN)  # a rotation job wrote a new one: no restart needed
    assert system.check() == []


def test_rate_limits_are_typed_with_the_wait_salesforce_asks_for(
    settings: Settings, org: LocalSalesforce
) -> None:
    system = _adapter(settings, org)
    org.org.mode = "rate_limited"  # the org's daily API limit: 403 REQUEST_LIMIT_EXCEEDED
    with pytest.raises(RateLimited) as daily:
        system.remaining("cust-1")
    assert daily.value.retry_after is None
    org.org.mode, org.org.retry_after = "throttled", "30"
    with pytest.raises(RateLimited) as throttled:
        system.remaining("cust-1")
    assert throttled.value.retry_after == 30


def test_a_slow_failing_or_absent_service_is_typed(
    settings: Settings, org: LocalSalesforce, tmp_path: Path
) -> None:
    org.org.mode = "slow"
    with pytest.raises(ConnectorTimeout):
        _adapter(settings, org, timeout=1.0).remaining("cust-1")
    org.org.mode = "failing"
    with pytest.raises(ConnectorUnavailable, match="503 SERVER_UNAVAILABLE"):
        _adapter(settings, org).remaining("cust-1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = SalesforceData("salesforce", f"https://127.0.0.1:{port}", lambda: TOKEN,
                            ledger_from(settings), timeout=2.0)  # fmt: skip
    with pytest.raises(ConnectorUnavailable, match="unreachable"):
        closed.check()


def test_a_certificate_it_cannot_trust_is_refused(settings: Settings, org: LocalSalesforce) -> None:
    untrusted = SalesforceData("salesforce", org.url, lambda: TOKEN, ledger_from(settings))
    with pytest.raises(ConnectorUnavailable, match="SSLError"):
        untrusted.check()
    assert org.org.requests == 0


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"instance_url": "http://globex.my.salesforce.com"}, "https address"),
        ({"customer_field": "Id = '' OR Name"}, "customer_field"),
        ({"token": None}, "give one of token or token_file"),
    ],
)
def test_a_wrong_salesforce_entry_is_refused(entry: dict[str, object], says: str) -> None:
    base = {
        "kind": "salesforce", "name": "salesforce",
        "instance_url": "https://globex.my.salesforce.com", "token": TOKEN,
    }  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        parse_connectors([base | entry])
    assert says in str(refused.value) and TOKEN not in str(refused.value)
