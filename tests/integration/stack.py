"""The real system as processes: Temporal dev server, worker, API; SMTP sink in the test."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from temporalio.client import Client

from closeout.db import Database, upgrade
from closeout.demo import seed_demo_users
from closeout.devstack import api_command, inbound_command, temporal_server_command
from closeout.domain import Role
from closeout.mailcatcher import MailCatcherHandler
from closeout.settings import DEV_SECRET, Settings
from closeout.temporal import connect
from closeout.tokens import create_token
from closeout.users.accounts import Accounts
from tests.support import MailSink, free_port


@dataclass
class CaughtMailSink(MailSink):
    catcher: MailCatcherHandler | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.catcher is not None:
            await self.catcher.handle_DATA(server, session, envelope)
        return await super().handle_DATA(server, session, envelope)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start within {timeout} s")
        time.sleep(0.1)


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    api_url: str
    temporal_address: str
    database_url: str
    archive_dir: Path
    mail: MailSink
    tokens: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    controller: Controller | None = None

    @property
    def db(self) -> Database:
        return Database.from_url(self.database_url)

    @property
    def settings(self) -> Settings:
        """The settings the stack's processes run with (their keys included)."""
        return Settings(
            dev_mode=True,
            database_url=self.database_url,
            temporal_address=self.temporal_address,
            secret_key=self.env.get("CLOSEOUT_SECRET_KEY", DEV_SECRET),
        )

    async def temporal(self) -> Client:
        """A client that reads the stack's encrypted payloads, as its processes do."""
        return await connect(self.settings)

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            args,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_api(self, port: int) -> None:
        """The API on `port`, once it answers its health check."""
        self._spawn("api", api_command("127.0.0.1", port))

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.api_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(healthy, "API")

    def start_inbound(self) -> None:
        """`closeout inbound` on the stack's CLOSEOUT_INBOUND_PORT, once it takes mail."""
        port = int(self.env["CLOSEOUT_INBOUND_PORT"])
        self._spawn("inbound", inbound_command("127.0.0.1", port))
        _wait(lambda: _port_open(port), "inbound mail")

    def start_worker(self) -> subprocess.Popen[bytes]:
        return self._spawn("worker", [sys.executable, "-m", "worker"])

    def start_another_worker(self, name: str) -> subprocess.Popen[bytes]:
        """One more worker of the same build on the same task queue, as a second host runs."""
        return self._spawn(name, [sys.executable, "-m", "worker"])

    def kill(self, name: str) -> None:
        """SIGKILL one of the stack's processes and all it started: no goodbye to Temporal."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def start_build_worker(self, build: str) -> subprocess.Popen[bytes]:
        """One more worker, polling as `build` of the worker deployment; not made current (a
        worker makes its build current only on a first install)."""
        env = {**self.env, "CLOSEOUT_BUILD_ID": build}
        return self._spawn(f"worker-{build}", [sys.executable, "-m", "worker"], env)

    def kill_worker(self) -> None:
        self.kill("worker")

    def client(self, role: str = "admin") -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url,
            timeout=30,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
        )

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.controller is not None:
            self.controller.stop()


# The cases the tests open by hand (`helpers.open_case`, the new-case page) get the demo policy.
DEMO_RULES = [{"trigger": "inactivity", "policy": "demo"}, {"trigger": "manual", "policy": "demo"}]


def start_stack(root: Path, api_port: int | None = None, **env_overrides: str) -> Iterator[Stack]:
    root.mkdir(parents=True, exist_ok=True)
    # Messages are kept for assertions and, as the dev catcher does, as files for /dev/mail.
    mail = CaughtMailSink(free_port(), catcher=MailCatcherHandler(root / "mailbox"))
    controller = Controller(mail, hostname="127.0.0.1", port=mail.port)
    controller.start()
    temporal_port, api_port = free_port(), api_port or free_port()
    database_url = f"sqlite:///{root}/closeout.db"
    env = {
        **os.environ,
        "CLOSEOUT_DEV_MODE": "true",
        "CLOSEOUT_DATABASE_URL": database_url,
        "CLOSEOUT_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "CLOSEOUT_API_PORT": str(api_port),
        "CLOSEOUT_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
        "CLOSEOUT_SMTP_PORT": str(mail.port),
        "CLOSEOUT_ARCHIVE_DIR": str(root / "archive"),
        "CLOSEOUT_VAR_DIR": str(root),
        "CLOSEOUT_MAIL_CATCHER_DIR": str(root / "mailbox"),
        # Every test's browser signs in from 127.0.0.1, for the whole module: the address
        # limit is the account limit's business here (tests/api/test_sign_in.py tests both).
        "CLOSEOUT_SIGN_IN_LIMIT_PER_ADDRESS": "500 per 15 minutes",
        # The quick demo policy for the cases the tests open by hand, chosen by the rules: an
        # account manager may not name a policy the rules do not give.
        "CLOSEOUT_POLICY_RULES": json.dumps(DEMO_RULES),
        "PYTHONUNBUFFERED": "1",
        **env_overrides,
    }
    stack = Stack(
        root,
        env,
        f"http://127.0.0.1:{api_port}",
        f"127.0.0.1:{temporal_port}",
        database_url,
        root / "archive",
        mail,
        controller=controller,
    )
    try:
        upgrade(database_url)
        db = Database.from_url(database_url)
        # A person's token belongs to their user: the users come first.
        seed_demo_users(Accounts(db, dev_mode=True))
        stack.tokens = {
            "admin": create_token(db, "admin@example.com", Role.ADMIN),
            "owner": create_token(db, "li.na@example.com", Role.ACCOUNT_MANAGER),
            "manager": create_token(db, "grace.manager@example.com", Role.MANAGER),
            "compliance": create_token(db, "kim.compliance@example.com", Role.COMPLIANCE_OFFICER),
            "integration": create_token(db, "crm@example.com", Role.INTEGRATION),
        }
        db.engine.dispose()
        stack._spawn(
            "temporal",
            temporal_server_command(
                "127.0.0.1",
                temporal_port,
                root / "temporal.db",
                log_level="error",
                extra=["--http-port", str(free_port()), "--metrics-port", str(free_port())],
            ),
        )
        _wait(lambda: _port_open(temporal_port), "Temporal dev server")
        stack.start_worker()
        stack.start_api(api_port)
        yield stack
    finally:
        stack.stop()
