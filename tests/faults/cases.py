"""Cases driven over the API as staff would, while workers are killed at chosen stages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.faults.checks import Verdict, check_deleted_case
from tests.faults.holds import STAGES, Moment, hold_name
from tests.faults.stack import FAULTS_POLICY, WORKER, FaultStack
from tests.integration.helpers import new_customer

# Decisions are taken after these stages: a hold in or before one waits for its kill first,
# so the kill lands where it was asked for, not in a decision's bookkeeping.
WIN_BACK_DECIDED_AFTER = STAGES.index("win_back")
APPROVAL_DECIDED_AFTER = STAGES.index("approval")


@dataclass
class FaultCase:
    """One case, and the stage whose activity its worker is killed in (None: no kill of its
    own; it still lives through every fault the others meet)."""

    stage: str | None = None
    moment: Moment = Moment.AFTER
    customer_id: str = ""
    case_id: str = ""
    workflow_id: str = ""
    killed_at: float | None = None
    final: dict[str, Any] = field(default_factory=dict)

    @property
    def hold(self) -> str | None:
        return hold_name(self.workflow_id, self.stage, self.moment) if self.stage else None

    def waits_for_kill_before(self, decided_after: int) -> bool:
        return (
            self.stage is not None
            and self.killed_at is None
            and STAGES.index(self.stage) <= decided_after
        )


async def _injected(fault: Awaitable[int]) -> int:
    return await fault


class Unfinished(AssertionError):
    """A case or a hold did not get where it had to within the time allowed."""


async def _call(
    request: Callable[[], Awaitable[httpx.Response]], accept: set[int], what: str, until: float
) -> httpx.Response:
    """Send until the answer is one of `accept`: while a part is down the API answers 5xx or
    not at all, and a request is sent again, as a client would."""
    while True:
        try:
            response = await request()
            if response.status_code in accept:
                return response
            if response.status_code < 500:
                raise AssertionError(f"{what}: {response.status_code} {response.text}")
        except httpx.TransportError:
            pass
        if time.monotonic() > until:
            raise Unfinished(f"{what}: no answer in time")
        await asyncio.sleep(0.5)


class CaseDriver:
    """Runs cases from trigger to deletion over the API; kills the worker at their holds."""

    def __init__(self, stack: FaultStack, timeout: float) -> None:
        self.stack = stack
        self.timeout = timeout
        self.kills = 0
        # Faults other than the kills at holds (outages, restarts), as their injectors count.
        self.injected = 0

    def prepare(self, case: FaultCase) -> None:
        case.customer_id = new_customer(self.stack)
        case.workflow_id = f"close-customer-{case.customer_id}"
        if case.hold:
            (self.stack.holds / case.hold).touch()

    async def run(self, api: httpx.AsyncClient, case: FaultCase) -> None:
        until = time.monotonic() + self.timeout
        body = {
            "customer_id": case.customer_id,
            "trigger": "inactivity",
            "evidence": {"inactive_days": 400},
            "policy": FAULTS_POLICY,
        }
        opened = await _call(
            lambda: api.post("/api/cases", json=body), {201, 409}, "open a case", until
        )
        case.case_id = opened.json()["case_id"]
        await self._decide(api, case, "win_back", "failed", WIN_BACK_DECIDED_AFTER, until)
        await self._decide(api, case, "approval", "approve", APPROVAL_DECIDED_AFTER, until)
        while True:
            response = await _call(
                lambda: api.get(f"/api/cases/{case.case_id}"), {200}, "read the case", until
            )
            if response.json()["outcome"] is not None:
                case.final = response.json()
                return
            if time.monotonic() > until:
                raise Unfinished(f"case {case.case_id} ({case.stage}) not finished in time")
            await asyncio.sleep(1)

    async def _decide(
        self,
        api: httpx.AsyncClient,
        case: FaultCase,
        kind: str,
        decision: str,
        after: int,
        until: float,
    ) -> None:
        while True:
            response = await _call(
                lambda: api.get(f"/api/cases/{case.case_id}"), {200}, "read the case", until
            )
            task = next((t for t in response.json()["pending_tasks"] if t["kind"] == kind), None)
            if task is not None and not case.waits_for_kill_before(after):
                break
            if time.monotonic() > until:
                raise Unfinished(f"case {case.case_id} ({case.stage}): no {kind} task in time")
            await asyncio.sleep(0.3)
        await _call(
            lambda: api.post(f"/api/tasks/{task['id']}/decision", json={"decision": decision}),
            # 409: decided already, by an earlier try whose answer was lost.
            {202, 409},
            f"decide {kind}",
            until,
        )

    async def kill_at_holds(self, cases: list[FaultCase], done: asyncio.Event) -> None:
        """SIGKILL the worker whenever one of the cases' holds is reached, release the holds
        it was killed in and start a new worker, until every hold is used or all cases end."""
        pending = [c for c in cases if c.hold]
        while pending and not done.is_set():
            reached = [c for c in pending if self._reached(c)]
            if not reached:
                await asyncio.sleep(0.05)
                continue
            self.stack.kill(WORKER)
            self.kills += 1
            # Dead now: every hold reached by now was reached inside the killed worker.
            for case in [c for c in pending if self._reached(c)]:
                assert case.hold is not None
                (self.stack.holds / case.hold).unlink()
                (self.stack.holds / f"{case.hold}.reached").unlink()
                case.killed_at = time.monotonic()
                pending.remove(case)
            self.stack.start_worker(WORKER)

    def _reached(self, case: FaultCase) -> bool:
        return (self.stack.holds / f"{case.hold}.reached").exists()

    async def run_all(
        self, cases: list[FaultCase], *faults: Awaitable[int], stagger: float = 0
    ) -> list[str]:
        """Every case from trigger to its end, the worker killed at each case's hold, the
        cases opened `stagger` seconds apart, while `faults` run beside them (each returns how
        many faults it injected). Returns what kept cases from ending, per case."""
        for case in cases:
            self.prepare(case)
        headers = {"Authorization": f"Bearer {self.stack.tokens['owner']}"}
        done = asyncio.Event()

        async def one(api: httpx.AsyncClient, case: FaultCase, delay: float) -> None:
            await asyncio.sleep(delay)
            await self.run(api, case)

        async with httpx.AsyncClient(
            base_url=self.stack.api_url, headers=headers, timeout=30
        ) as api:
            killer = asyncio.create_task(self.kill_at_holds(cases, done))
            injected = [asyncio.create_task(_injected(f)) for f in faults]
            try:
                ended = await asyncio.gather(
                    *(one(api, c, i * stagger) for i, c in enumerate(cases)),
                    return_exceptions=True,
                )
            finally:
                done.set()
                await killer
                for count in await asyncio.gather(*injected):
                    self.injected += count
        return [f"{c.stage or 'case'}: {e}" for c, e in zip(cases, ended, strict=True) if e]

    async def verdicts(self, cases: list[FaultCase]) -> list[Verdict]:
        headers = {"Authorization": f"Bearer {self.stack.tokens['compliance']}"}
        db = self.stack.db
        verdicts = []
        async with httpx.AsyncClient(
            base_url=self.stack.api_url, headers=headers, timeout=30
        ) as officer:
            for case in cases:
                response = await officer.get(f"/api/cases/{case.case_id}/certificate")
                certificate = response.json() if response.status_code == 200 else None
                verdicts.append(
                    check_deleted_case(
                        db, self.stack.mail, self.stack.archive_dir, case.final, certificate
                    )
                )
        db.engine.dispose()
        return verdicts
