"""Demo cases for `closeout dev`: a handful of cases in different stages, opened and moved on
through the JSON API as staff would, so each demo user sees their part at once.

Each demo customer gets its case once: a customer who already has one (a second start, or a
case opened by hand) is left as it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("closeout.demo_cases")


@dataclass(frozen=True)
class DemoCase:
    customer_id: str
    policy: str
    # How far it is taken: "win_back" (left waiting), "approval" (win-back failed, the approval
    # waits and escalates after the demo policy's five minutes), "retention_hold" (approved,
    # archived, a legal hold placed), "deleted" (approved, runs to its certificate).
    goal: str
    what: str


# Demo owners rotate: cust-0001 and cust-0004 are Sam's, cust-0002 and cust-0005 Maria's,
# cust-0003 and cust-0006 Li Na's (cust-0004, a high-value customer, needs two approvals).
DEMO_CASES = (
    DemoCase("cust-0001", "standard", "win_back", "a win-back offer waiting (14 days)"),
    DemoCase("cust-0006", "standard", "win_back", "a win-back offer waiting (14 days)"),
    DemoCase("cust-0003", "demo", "approval", "an approval due, escalated after 5 minutes"),
    DemoCase("cust-0002", "demo", "retention_hold", "archived, in retention under a legal hold"),
    DemoCase("cust-0005", "demo", "deleted", "deleted, with its certificate"),
)
EVIDENCE = {"inactive_days": 400}
DEMO_SUMMARY = "win-back offers waiting, an approval due, one under a legal hold, one deleted"


class DemoCases:
    """Opens and moves the demo cases with an admin token, polling for each step."""

    def __init__(self, api: httpx.Client, timeout: float = 120, poll: float = 0.5) -> None:
        self.api = api
        self.timeout = timeout
        self.poll = poll

    def seed(self, cases: tuple[DemoCase, ...] = DEMO_CASES) -> list[str]:
        """Open and move every demo case not opened yet, the moves side by side; the ids of
        those opened now."""
        opened: list[tuple[DemoCase, str]] = []
        for demo in cases:
            if self._has_case(demo.customer_id):
                continue
            case_id = self._open(demo)
            opened.append((demo, case_id))
            log.info("demo case %s for %s: %s", case_id, demo.customer_id, demo.what)
        moving = [(d, c) for d, c in opened if d.goal != "win_back"]
        with ThreadPoolExecutor(max_workers=max(len(moving), 1)) as pool:
            for moved in [pool.submit(self._move, d, c) for d, c in moving]:
                moved.result()
        return [case_id for _demo, case_id in opened]

    def _has_case(self, customer_id: str) -> bool:
        found = self.api.get(f"/api/customers/{customer_id}")
        found.raise_for_status()
        return bool(found.json()["cases"])

    def _open(self, demo: DemoCase) -> str:
        body = {
            "customer_id": demo.customer_id,
            "trigger": "inactivity",
            "evidence": EVIDENCE,
            "policy": demo.policy,
        }
        created = self.api.post("/api/cases", json=body)
        created.raise_for_status()
        return str(created.json()["case_id"])

    def _move(self, demo: DemoCase, case_id: str) -> None:
        self._decide(case_id, "win_back", "failed", "demo: no answer to the offer")
        if demo.goal == "approval":
            self._task(case_id, "approval")
            return
        self._decide(case_id, "approval", "approve", "demo: closing as proposed")
        if demo.goal == "retention_hold":
            self._until(lambda: self._case(case_id)["stage"] == "retention", "retention")
            hold = {"reason": "demo: tax audit of 2025", "reference": "AUD-2025-17"}
            self.api.post(f"/api/cases/{case_id}/legal-holds", json=hold).raise_for_status()

    def _decide(self, case_id: str, kind: str, decision: str, comment: str) -> None:
        task = self._task(case_id, kind)
        body = {"decision": decision, "comment": comment}
        self.api.post(f"/api/tasks/{task['id']}/decision", json=body).raise_for_status()

    def _task(self, case_id: str, kind: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def shown() -> bool:
            tasks = self._case(case_id).get("pending_tasks", [])
            found[:] = [t for t in tasks if t["kind"] == kind]
            return bool(found)

        self._until(shown, f"its {kind} task")
        return found[0]

    def _case(self, case_id: str) -> dict[str, Any]:
        got = self.api.get(f"/api/cases/{case_id}")
        got.raise_for_status()
        return dict(got.json())

    def _until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"a demo case never reached {what}")
            time.sleep(self.poll)


def seed_demo_cases(base_url: str, token: str) -> list[str]:
    """Open the demo cases against the API at `base_url` with an admin token."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as api:
        return DemoCases(api).seed()
