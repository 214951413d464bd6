"""Detection opens each case under the policy the settings' rules give it (trigger, value tier,
country), the default when none holds."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from closeout.constants import case_workflow_id
from closeout.contracts import DetectionInput
from closeout.crm.models import CrmCustomer
from closeout.domain import Trigger, ValueTier
from closeout.settings import Settings
from tests.conftest import make_settings
from tests.support import MailSink, eventually
from tests.workflows.conftest import Harness
from workflows.detection import DetectionWorkflow

RULES = [
    {"trigger": "payment_arrears", "country": "CN", "policy": "by-category"},
    {"value_tier": "key", "policy": "confirming"},
]


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str, mail: MailSink) -> Settings:
    return make_settings(tmp_path, sqlite_url, mail, policy_rules=RULES)


async def test_detection_opens_each_case_under_the_policy_its_rule_gives(
    harness: Harness,
) -> None:
    in_china = harness.add_customer(trigger=Trigger.PAYMENT_ARREARS)
    key = harness.add_customer(tier=ValueTier.KEY, trigger=Trigger.INACTIVITY)
    key_in_china = harness.add_customer(tier=ValueTier.KEY, trigger=Trigger.PAYMENT_ARREARS)
    plain = harness.add_customer(trigger=Trigger.PAYMENT_ARREARS)
    with harness.db.session() as session:
        for customer in (in_china, key_in_china):
            row = session.get(CrmCustomer, customer)
            assert row is not None
            row.country = "CN"
            session.add(row)

    await harness.client.execute_workflow(
        DetectionWorkflow.run,
        DetectionInput(),
        id=f"detection-{uuid.uuid4()}",
        task_queue=harness.task_queue,
    )

    expected = {
        in_china: "by-category",
        key: "confirming",
        key_in_china: "by-category",  # the first rule that holds
        plain: "standard",  # none holds: the default
    }
    for customer, policy in expected.items():

        async def opened(customer: str = customer) -> object:
            return harness.cases.open_case_for(customer)

        case = await eventually(opened, what=f"a case for {customer}")
        assert case.policy == policy, customer
        await harness.client.get_workflow_handle(case_workflow_id(customer)).terminate("done")


def test_a_rule_naming_an_unknown_policy_is_refused(
    tmp_path: Path, sqlite_url: str, mail: MailSink
) -> None:
    fast = {"trigger": "fraud", "policy": "fast"}
    with pytest.raises(ValidationError, match="rule 3 names the unknown policy 'fast'"):
        make_settings(tmp_path, sqlite_url, mail, policy_rules=[*RULES, fast])
    with pytest.raises(ValidationError, match="country"):
        make_settings(tmp_path, sqlite_url, mail, policy_rules=[{"country": "cn", "policy": "x"}])
