from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack import Stack, start_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A key customer's own request gets the quick demo policy by rule (the webhook test).
    rules = '[{"trigger": "customer_request", "value_tier": "key", "policy": "demo"}]'
    yield from start_stack(Path(tmp_path_factory.mktemp("stack")), CLOSEOUT_POLICY_RULES=rules)
