"""The API under load: concurrent staff clients, then a burst of customers' link clicks.

"No error" means no 5xx answer and no failed connection (refused, reset, timed out). A
refused link answers 4xx by design, and past `CLOSEOUT_REFUSED_LINKS_PER_MINUTE` refusals
from one address in a minute, 429: the burst comes from one address, so most of its forged
links meet the 429. Those answers are counted by status, not as errors.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from bench.scale_pages import CSRF, percentile
from bench.scale_seed import SIGNED_IN, Grown
from closeout.db import Database
from closeout.domain import CustomerResponse, Role
from closeout.links import CustomerLink, LinkSigner
from closeout.settings import DEV_SECRET
from closeout.tokens import create_token
from closeout.users.accounts import DEMO_PASSWORD

# Who the staff clients are: account managers mostly, as in an office.
STAFF = (
    (SIGNED_IN, Role.ACCOUNT_MANAGER),
    (SIGNED_IN, Role.ACCOUNT_MANAGER),
    ("grace.manager@example.com", Role.MANAGER),
    ("kim.compliance@example.com", Role.COMPLIANCE_OFFICER),
)


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return sum(self.errors.values()) + sum(n for s, n in self.statuses.items() if s >= 500)

    def line(self, name: str) -> str:
        p50 = percentile(self.latencies, 0.5) * 1000 if self.latencies else 0.0
        p95 = percentile(self.latencies, 0.95) * 1000 if self.latencies else 0.0
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        errors = ", ".join(f"{e}: {n}" for e, n in sorted(self.errors.items())) or "none"
        return (
            f"{name}: {len(self.latencies)} requests, p50 {p50:.0f} ms, p95 {p95:.0f} ms; "
            f"answers {statuses}; 5xx or failed connections: {self.failed} ({errors})"
        )


async def _timed(load: Load, send: asyncio.Future[httpx.Response] | object) -> None:
    started = time.perf_counter()
    try:
        answer = await send  # type: ignore[misc]
    except httpx.HTTPError as exc:
        load.errors[type(exc).__name__] += 1
        return
    load.latencies.append(time.perf_counter() - started)
    load.statuses[answer.status_code] += 1


async def _sign_in(client: httpx.AsyncClient, email: str) -> None:
    found = CSRF.search((await client.get("/login")).text)
    assert found, "the sign-in form has no CSRF token"
    answer = await client.post(
        "/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": found.group(1)}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in as {email} answered {answer.status_code}")


def _routes(role: Role, grown: Grown, rng: random.Random) -> list[str]:
    task = rng.choice(grown.signed_in_tasks)
    case = "case-o" + task.removeprefix("task-o")
    if role is Role.COMPLIANCE_OFFICER:
        return ["/compliance", "/cases", "/api/cases?limit=50", f"/api/cases/{case}"]
    return [
        "/inbox",
        f"/tasks/{task}",
        "/cases",
        "/api/tasks?status=open&limit=50",
        "/api/cases?open=true&limit=50",
        f"/api/cases/{case}",
    ]


async def staff_load(api: str, db: Database, grown: Grown, clients: int, each: int) -> Load:
    """`clients` signed-in staff at once, each sending `each` requests one after another
    (pages with their session cookie, JSON routes with their bearer token)."""
    tokens = {email: create_token(db, email, role) for email, role in set(STAFF)}
    load = Load()
    limits = httpx.Limits(max_connections=clients + 10)

    async def one(n: int) -> None:
        email, role = STAFF[n % len(STAFF)]
        rng = random.Random(n)
        async with httpx.AsyncClient(base_url=api, timeout=60, limits=limits) as client:
            await _sign_in(client, email)
            bearer = {"Authorization": f"Bearer {tokens[email]}"}
            for _ in range(each):
                path = rng.choice(_routes(role, grown, rng))
                headers = bearer if path.startswith("/api/") else None
                await _timed(load, client.get(path, headers=headers))

    await asyncio.gather(*(one(n) for n in range(clients)))
    return load


async def link_burst(api: str, grown: Grown, clicks: int, valid_share: float = 0.1) -> Load:
    """`clicks` customers' link clicks at once: a share signed and live, the rest forged."""
    signer = LinkSigner(DEV_SECRET)
    expires = datetime.now(UTC) + timedelta(days=14)
    rng = random.Random(1000)
    paths = []
    for _ in range(clicks):
        if rng.random() < valid_share:
            case = "case-o" + rng.choice(grown.signed_in_tasks).removeprefix("task-o")
            link = CustomerLink(str(uuid.uuid4()), case, CustomerResponse.STAY, expires)
            paths.append(f"/r/{signer.sign(link)}")
        else:
            paths.append(f"/r/{secrets.token_urlsafe(40)}")
    load = Load()
    limits = httpx.Limits(max_connections=clicks, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=api, timeout=60, limits=limits) as client:
        await asyncio.gather(*(_timed(load, client.get(p)) for p in paths))
    return load
