"""Logs and workflow histories carry ids, never the customer's name or address."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from tests.integration.helpers import new_customer, open_case, open_task, poll
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration
LINK = re.compile(r"http://127\.0\.0\.1:\d+/r/[A-Za-z0-9._\-]+")


def _payload_text(node: Any) -> str:
    """Every payload of a history, decoded: personal data would hide in base64."""
    if isinstance(node, dict):
        if "data" in node and "metadata" in node and isinstance(node["data"], str):
            return base64.b64decode(node["data"]).decode(errors="replace")
        return " ".join(_payload_text(v) for v in node.values())
    if isinstance(node, list):
        return " ".join(_payload_text(v) for v in node)
    return ""


async def _history(stack: Stack, workflow_id: str) -> str:
    client = await Client.connect(stack.temporal_address)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return _payload_text(json.loads(history.to_json()))


def test_logs_and_histories_name_no_customer(stack: Stack) -> None:
    customer = new_customer(stack)
    name, address = f"Integration {customer}", f"accounts@integration{customer}.example"
    with stack.client("owner") as api:
        assert api.get("/api/customers", params={"q": name}).json()["total"] == 1
        case_id = open_case(api, customer)["case_id"]
        mail = poll(
            lambda: next((m for m in stack.mail.messages if address in str(m["To"])), None),
            "the win-back mail",
        )
        link = LINK.search(stack.mail.parts(mail)["text/plain"])
        assert link is not None
        assert httpx.get(link.group(0)).status_code == 200
        open_task(api, case_id, "approval")
    history = asyncio.run(_history(stack, f"close-customer-{customer}"))
    assert customer in history, "the history is decoded: ids are there"
    logs = {name: (stack.root / f"{name}.log").read_text() for name in ("api", "worker")}
    assert "GET /api/customers HTTP" in logs["api"] and "GET /r/… HTTP" in logs["api"]
    token = link.group(0).rsplit("/", 1)[1]
    for where, text in {"history": history, **logs}.items():
        for secret in (name, address, token):
            assert secret not in text, f"{secret!r} found in the {where}"
