"""The real stack with its parts under the test's control: each can be killed and brought back.

Temporal's dev server (killed and restarted on its file and port), workers (any number on the
task queue, each killed on its own), the API, the SMTP sink (stopped: connections refused, then
back on its port) and the read model's database (PostgreSQL stopped and started again).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from aiosmtpd.controller import Controller

from closeout.db import Database, upgrade
from closeout.demo import seed_demo_users
from closeout.devstack import temporal_server_command
from closeout.domain import DataCategory, Role
from closeout.mailcatcher import MailCatcherHandler
from closeout.policy_config import PolicyConfig
from closeout.tokens import create_token
from closeout.users.accounts import Accounts
from tests.faults.database import PostgresServer
from tests.faults.worker import HOLDS_ENV
from tests.integration.stack import CaughtMailSink, Stack, _port_open, _wait
from tests.support import free_port

FAULTS_POLICY = "faults"
# The demo policy's shape with room between the categories' ends: a step lost with a worker
# is retried within a minute (its timeout), so even then the case meets every category's
# deletion on its own before the last one, and a verification before the final deletion.
POLICY = PolicyConfig(
    win_back_window=timedelta(minutes=30),
    notice_period=timedelta(seconds=10),
    approval_due=timedelta(minutes=30),
    retention=timedelta(seconds=100),
    reminder_before=timedelta(seconds=4),
    task_reminder_before=None,
    deletion_confirmation=True,
    category_retention={
        DataCategory.MARKETING_DATA: timedelta(0),
        DataCategory.CONTACT_DATA: timedelta(seconds=25),
        DataCategory.INTERACTION_HISTORY: timedelta(seconds=50),
        DataCategory.CONTRACTS: timedelta(seconds=75),
        DataCategory.ACCOUNTING_RECORDS: timedelta(seconds=100),
    },
)
WORKER = "worker"


@dataclass
class FaultStack(Stack):
    holds: Path = Path()
    temporal_command: list[str] = field(default_factory=list)
    postgres: PostgresServer | None = None

    def start_worker(self, name: str = WORKER) -> subprocess.Popen[bytes]:
        return self._spawn(name, [sys.executable, "-m", "tests.faults.worker"])

    def kill(self, name: str = WORKER) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def start_temporal(self) -> None:
        # A restarted server listens on the same port, on the same file.
        self._spawn("temporal", self.temporal_command)
        port = int(self.temporal_address.rsplit(":", 1)[1])
        _wait(lambda: _port_open(port), "Temporal dev server")

    def stop_mail(self) -> None:
        """The SMTP port closed: every connection is refused until `start_mail`."""
        assert self.controller is not None
        self.controller.stop()
        self.controller = None

    def start_mail(self) -> None:
        self.controller = Controller(self.mail, hostname="127.0.0.1", port=self.mail.port)
        self.controller.start()


def _policies() -> str:
    return json.dumps({FAULTS_POLICY: json.loads(POLICY.model_dump_json())})


def start_fault_stack(root: Path, postgres: PostgresServer | None = None) -> Iterator[FaultStack]:
    """Dev server, one worker, API and SMTP sink; the read model on SQLite, or on `postgres`."""
    root.mkdir(parents=True, exist_ok=True)
    holds = root / "holds"
    holds.mkdir(exist_ok=True)
    mail = CaughtMailSink(free_port(), catcher=MailCatcherHandler(root / "mailbox"))
    controller = Controller(mail, hostname="127.0.0.1", port=mail.port)
    controller.start()
    temporal_port, api_port = free_port(), free_port()
    database_url = postgres.new_database() if postgres else f"sqlite:///{root}/closeout.db"
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
        "CLOSEOUT_POLICIES": _policies(),
        # The owner's cases get it by rule: an account manager may not name another.
        "CLOSEOUT_POLICY_RULES": json.dumps([{"trigger": "inactivity", "policy": FAULTS_POLICY}]),
        HOLDS_ENV: str(holds),
        "PYTHONUNBUFFERED": "1",
    }
    stack = FaultStack(
        root,
        env,
        f"http://127.0.0.1:{api_port}",
        f"127.0.0.1:{temporal_port}",
        database_url,
        root / "archive",
        mail,
        controller=controller,
        holds=holds,
        temporal_command=temporal_server_command(
            "127.0.0.1",
            temporal_port,
            root / "temporal.db",
            log_level="error",
            extra=["--http-port", str(free_port()), "--metrics-port", str(free_port())],
        ),
        postgres=postgres,
    )
    try:
        upgrade(database_url)
        db = Database.from_url(database_url)
        seed_demo_users(Accounts(db, dev_mode=True))
        stack.tokens = {
            "owner": create_token(db, "li.na@example.com", Role.ACCOUNT_MANAGER),
            "compliance": create_token(db, "kim.compliance@example.com", Role.COMPLIANCE_OFFICER),
        }
        db.engine.dispose()
        stack.start_temporal()
        stack.start_worker()
        stack.start_api(api_port)
        yield stack
    finally:
        stack.stop()
