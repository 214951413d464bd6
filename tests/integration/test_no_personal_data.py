"""Logs and workflow histories carry ids, never the customer's name or address."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHistory

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


async def _histories(stack: Stack, workflow_id: str) -> tuple[str, str]:
    """The history as the server stores it, and as Closeout's own client decodes it."""
    raw_client = await Client.connect(stack.temporal_address)
    raw = await raw_client.get_workflow_handle(workflow_id).fetch_history()
    client = await stack.temporal()
    handle = client.get_workflow_handle(workflow_id)
    decoded = WorkflowHistory(
        workflow_id,
        list((await handle.fetch_history()).events),
    )
    for event in decoded.events:
        for payloads in _payload_lists(event):
            plain = await client.data_converter.payload_codec.decode(payloads)  # type: ignore[union-attr]
            del payloads[:]
            payloads.extend(plain)
    return (
        _payload_text(json.loads(raw.to_json())),
        _payload_text(json.loads(decoded.to_json())),
    )


def _payload_lists(message: Any) -> list[Any]:
    """Every repeated Payload field in a history event, however deep."""
    found = []
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if descriptor.message_type.full_name == "temporal.api.common.v1.Payloads":
            found.append(value.payloads)
        elif descriptor.is_repeated:
            items = value.values() if hasattr(value, "values") else value  # maps, lists
            for item in items:
                if hasattr(item, "ListFields"):
                    found.extend(_payload_lists(item))
        else:
            found.extend(_payload_lists(value))
    return found


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
        approval = open_task(api, case_id, "approval")
        remark = f"called {name} at {address}"  # people write such things in comments
        decided = api.post(
            f"/api/tasks/{approval['id']}/decision", json={"decision": "reject", "comment": remark}
        )
        assert decided.status_code == 202, decided.text
    raw, history = asyncio.run(_histories(stack, f"close-customer-{customer}"))
    assert customer in history, "the history is decoded: ids are there"
    # The server holds ciphertext only: not even the ids, let alone the comment.
    assert customer not in raw and remark not in raw
    assert remark in history, "the Update's argument is in the (decoded) history"
    logs = {name: (stack.root / f"{name}.log").read_text() for name in ("api", "worker")}
    assert "GET /api/customers HTTP" in logs["api"] and "GET /r/… HTTP" in logs["api"]
    token = link.group(0).rsplit("/", 1)[1]
    for where, text in {"history": history.replace(remark, ""), **logs}.items():
        for secret in (name, address, token):
            assert secret not in text, f"{secret!r} found in the {where}"
