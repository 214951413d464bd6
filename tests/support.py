"""Real parts for tests: free ports, an aiosmtpd mail sink, waiting helpers."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiosmtpd.controller import Controller
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from closeout.audit.chain import ChainReport, verify
from closeout.cases.repository import CaseRepository, case_repository
from closeout.db import Database
from closeout.settings import Settings

VENV_BIN = Path(sys.executable).parent
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MailSink:
    """An SMTP server on loopback that keeps every message it accepts."""

    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # The default policy decodes headers, so a Chinese subject reads as Chinese.
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def parts(self, message: Message) -> dict[str, str]:
        return {
            part.get_content_type(): part.get_payload(decode=True).decode()  # type: ignore[union-attr]
            for part in message.walk()
            if part.get_content_maintype() == "text"
        }


class Refusing(MailSink):
    """A mail server that refuses every recipient for good (550)."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return "550 No such mailbox"


def start_mail_sink() -> tuple[MailSink, Controller]:
    sink = MailSink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    return sink, controller


async def eventually(
    check: Callable[[], Awaitable[T | None]], within: float = 20.0, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


_WORKFLOW_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
_ACTIVITY_ENDS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
}
_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
}


async def at_rest(handle: WorkflowHandle[Any, Any]) -> bool:
    """True when the run `handle` names has ended, or waits with no activity running and its
    last workflow task done: nothing happens in it until a timer fires or a request comes.
    One read of the history, so what is pending and what is done are seen together."""
    history = await handle.fetch_history()
    running: set[int] = set()
    last_task = None
    for event in history.events:
        if event.event_type in _CLOSED:
            return True
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            running.add(event.event_id)
        elif event.event_type in _ACTIVITY_ENDS:
            ended = getattr(event, event.WhichOneof("attributes") or "")
            running.discard(ended.scheduled_event_id)
        elif event.event_type in _WORKFLOW_TASK_EVENTS:
            last_task = event.event_type
    return not running and last_task == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


# The audit actions of a case that runs to deletion, in the order they must happen.
DELETION_STEPS = (
    "case_opened",
    "backup_created",
    "backup_verified",
    "access_revoked",
    "access_revocation_verified",
    "customer_archived",
    "customer_data_deleted",
    "deletion_verified",
    "case_closed",
)


def assert_deleted_in_order(actions: list[str]) -> None:
    """Every step of a deletion is in the audit trail, each after the one before it."""
    positions = [actions.index(step) if step in actions else -1 for step in DELETION_STEPS]
    missing = [step for step, at in zip(DELETION_STEPS, positions, strict=True) if at < 0]
    assert not missing, f"missing audit steps: {missing}"
    assert positions == sorted(positions), f"steps out of order: {actions}"


def read_model(db: Database, settings: Settings | None = None) -> CaseRepository:
    """The read model as the worker and the API build it: words sealed under the master keys
    of `settings` (dev mode's when none are given)."""
    return case_repository(settings or Settings(dev_mode=True, database_url="sqlite://"), db)


def chain_report(db: Database, settings: Settings | None = None) -> ChainReport:
    """The whole audit chain walked, sealed content opened as `closeout audit verify` does."""
    with db.session() as session:
        return verify(session, read_model(db, settings).sealed.events_opener())


def wait_until_answers(
    process: subprocess.Popen[bytes],
    url: str,
    what: str,
    timeout: float = 60,
    headers: dict[str, str] | None = None,
) -> None:
    """Wait until a server the tests started answers `url` with 200; kill it and fail if it
    exits or does not answer in time."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.1)
