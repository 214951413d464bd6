from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.observability import METRICS_TOKEN
from tests.integration.stack import DEMO_RULES, Stack, start_stack
from tests.support import free_port


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A key customer's own request gets the quick demo policy by rule (the webhook test).
    rules = json.dumps(
        [{"trigger": "customer_request", "value_tier": "key", "policy": "demo"}, *DEMO_RULES]
    )
    # Run as an operator would: metrics served by the API and the worker, JSON log lines.
    yield from start_stack(
        Path(tmp_path_factory.mktemp("stack")),
        CLOSEOUT_POLICY_RULES=rules,
        CLOSEOUT_METRICS_TOKEN=METRICS_TOKEN,
        CLOSEOUT_WORKER_METRICS_ADDRESS=f"127.0.0.1:{free_port()}",
        CLOSEOUT_LOG_FORMAT="json",
    )
