"""Driving the real API the way an integrator would."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from closeout.demo import SHAPES, add_customer
from closeout.domain import Trigger, ValueTier
from tests.integration.stack import Stack


def new_customer(
    stack: Stack,
    tier: ValueTier = ValueTier.STANDARD,
    locale: str = "en",
    owner: str = "li.na@example.com",
    shaped_after: Trigger | None = None,
) -> str:
    customer_id = f"it-{uuid.uuid4().hex[:8]}"
    db = stack.db
    with db.session() as session:
        add_customer(
            session,
            customer_id,
            name=f"Integration {customer_id}",
            owner=owner,
            shape=SHAPES[shaped_after],
            value_tier=tier,
            locale=locale,
        )
    db.engine.dispose()
    return customer_id


def open_case(api: httpx.Client, customer_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "customer_id": customer_id,
        "trigger": "inactivity",
        "evidence": {"inactive_days": 400},
        "policy": "demo",
        **extra,
    }
    response = api.post("/api/cases", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def poll(fetch: Any, what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def open_task(api: httpx.Client, case_id: str, kind: str, timeout: float = 60) -> dict[str, Any]:
    def fetch() -> dict[str, Any] | None:
        case = api.get(f"/api/cases/{case_id}").json()
        return next((t for t in case.get("pending_tasks", []) if t["kind"] == kind), None)

    return dict(poll(fetch, f"an open {kind} task", timeout))


def wait_case(
    api: httpx.Client,
    case_id: str,
    *,
    stage: str | None = None,
    outcome: str | None = None,
    timeout: float = 120,
) -> dict[str, Any]:
    def fetch() -> dict[str, Any] | None:
        response = api.get(f"/api/cases/{case_id}")
        if response.status_code != 200:
            return None
        case = response.json()
        if stage and case["stage"] != stage:
            return None
        if outcome and case["outcome"] != outcome:
            return None
        return dict(case)

    return dict(poll(fetch, f"case at stage={stage} outcome={outcome}", timeout))


def decide(api: httpx.Client, task_id: str, decision: str, **extra: Any) -> httpx.Response:
    return api.post(f"/api/tasks/{task_id}/decision", json={"decision": decision, **extra})
