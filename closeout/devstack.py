"""`closeout dev`: the whole system on one machine, on its embedded defaults.

Starts the Temporal dev server (persistent var/temporal.db), the SMTP catcher, the worker and
the API as child processes, prints where everything is, and stops them all on Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import signal
import socket

# The dev stack starts its own fixed commands (the Temporal CLI, the worker, the API).
import subprocess  # nosec B404
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from closeout.db import Database, upgrade
from closeout.demo import DEMO_USERS, seed_demo, seed_demo_users
from closeout.demo_cases import DEMO_SUMMARY, seed_demo_cases
from closeout.demo_cases import log as demo_log
from closeout.dev_env import write_dev_env
from closeout.domain import Role
from closeout.mailcatcher import start_mail_catcher
from closeout.settings import Settings
from closeout.tokens import authenticate, create_token
from closeout.users.accounts import DEMO_PASSWORD, Accounts

BIN = Path(sys.executable).parent


def temporal_server_command(
    host: str,
    port: int,
    db_file: Path,
    *,
    ui_port: int | None = None,
    log_level: str = "warn",
    extra: list[str] | None = None,
) -> list[str]:
    """`temporal server start-dev` on a persistent SQLite file, Web UI on `ui_port` or none."""
    ui = ["--ui-port", str(ui_port), "--ui-disable-news-fetch"] if ui_port else ["--headless"]
    return [
        str(BIN / "temporal"), "server", "start-dev", "--ip", host, "--port", str(port), *ui,
        "--db-filename", str(db_file), "--log-level", log_level,
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
        *(extra or []),
    ]  # fmt: skip


def api_command(host: str, port: int) -> list[str]:
    """The API served by uvicorn, configured by the process's CLOSEOUT_* environment."""
    return [
        sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
        "--host", host, "--port", str(port),
    ]  # fmt: skip


def inbound_command(host: str, port: int) -> list[str]:
    """`closeout inbound`: replies taken on `port` and handed to their cases."""
    return [sys.executable, "-m", "cli.main", "inbound", "--host", host, "--port", str(port)]


class DevStackError(RuntimeError):
    """The dev stack cannot start; the message says why and what to do."""


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _wait_for(
    check: object, what: str, timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DevStackError(f"{what} exited with code {proc.returncode}; see var/logs/")
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise DevStackError(f"{what} did not become ready within {timeout:.0f} s; see var/logs/")


# The demo admin: the dev token is theirs, like every person's token belongs to a user.
# An e-mail address, not a password.
DEV_TOKEN_USER = "admin@example.com"  # nosec B105


def ensure_dev_token(settings: Settings, db: Database) -> str:
    """Reuse var/dev-token if it still authenticates, else create a new admin token."""
    path = settings.var_dir / "dev-token"
    if path.exists():
        token = path.read_text().strip()
        if authenticate(db, token) is not None:
            return token
    token = create_token(db, DEV_TOKEN_USER, Role.ADMIN)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def prepare(settings: Settings) -> tuple[Database, str, int]:
    """Migrate, seed and mint the dev token: idempotent, so a second run reuses var/."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    db = Database.from_url(settings.database_url)
    seeded = seed_demo(db)
    seed_demo_users(Accounts(db, dev_mode=True))
    return db, ensure_dev_token(settings, db), seeded


# Replies in dev mode: notices carry reply addresses at this domain, and the inbound endpoint
# takes them on loopback (closeout/inbound/).
DEV_INBOUND_DOMAIN = "replies.localhost"


class DevStack:
    def __init__(self, settings: Settings, demo_cases: bool = True) -> None:
        if not settings.dev_mode:
            raise DevStackError("`closeout dev` runs in dev mode only (CLOSEOUT_DEV_MODE=true)")
        if not settings.inbound_domain:
            settings = settings.model_copy(update={"inbound_domain": DEV_INBOUND_DOMAIN})
        self.settings = settings
        self.demo_cases = demo_cases
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs = settings.var_dir / "logs"
        temporal = settings.temporal_address.rsplit(":", 1)
        self.temporal_host, self.temporal_port = temporal[0], int(temporal[1])
        self.ui_port = urlparse(settings.temporal_ui_url).port or 8233

    def _env(self) -> dict[str, str]:
        # Children inherit the caller's CLOSEOUT_* configuration, forced into dev mode.
        return {
            **os.environ,
            "CLOSEOUT_DEV_MODE": "true",
            "CLOSEOUT_INBOUND_DOMAIN": str(self.settings.inbound_domain),
            "PYTHONUNBUFFERED": "1",
        }

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        # `args` are built here from fixed commands and the settings' ports; no shell.
        proc = subprocess.Popen(  # nosec B603
            args, stdout=log, stderr=subprocess.STDOUT, env=self._env(), start_new_session=True
        )
        self.children.append((name, proc))
        return proc

    def _check_ports_free(self) -> None:
        s = self.settings
        for what, host, port in [
            ("Temporal", self.temporal_host, self.temporal_port),
            ("Temporal Web UI", self.temporal_host, self.ui_port),
            ("API", s.api_host, s.api_port),
            ("SMTP catcher", s.smtp_host, s.smtp_port),
            ("inbound mail", s.inbound_host, s.inbound_port),
        ]:
            if _port_open(host, port):
                raise DevStackError(
                    f"port {port} ({what}) is already in use: is another `closeout dev` running?"
                )

    def run(self) -> None:
        s = self.settings
        self._check_ports_free()
        db, token, seeded = prepare(s)
        # The commands run in this checkout afterwards reach this stack (closeout/dev_env.py).
        write_dev_env(s.var_dir, self._env(), Path.cwd())
        self.logs.mkdir(parents=True, exist_ok=True)
        catcher = start_mail_catcher(s.mail_catcher_dir, s.smtp_host, s.smtp_port)
        try:
            temporal = self._spawn(
                "temporal",
                temporal_server_command(
                    self.temporal_host,
                    self.temporal_port,
                    s.var_dir / "temporal.db",
                    ui_port=self.ui_port,
                    log_level="warn",
                    # The Web UI shows the encrypted payloads through the API's codec.
                    extra=["--ui-codec-endpoint", f"{s.base_url}/codec"],
                ),
            )
            _wait_for(
                lambda: _port_open(self.temporal_host, self.temporal_port), "Temporal", 60, temporal
            )
            worker = self._spawn("worker", [sys.executable, "-m", "worker"])
            inbound = self._spawn("inbound", inbound_command(s.inbound_host, s.inbound_port))
            _wait_for(
                lambda: _port_open(s.inbound_host, s.inbound_port), "inbound mail", 60, inbound
            )
            api = self._spawn("api", api_command(s.api_host, s.api_port))
            health = f"http://{s.api_host}:{s.api_port}/healthz"
            _wait_for(lambda: _healthy(health), "the API", 60, api)
            time.sleep(0.5)
            if worker.poll() is not None:
                raise DevStackError("the worker exited; see var/logs/worker.log")
            self._banner(token, seeded)
            if self.demo_cases:
                self._open_demo_cases(f"http://{s.api_host}:{s.api_port}", token)
            self._supervise()
        finally:
            self.stop()
            catcher.stop()
            db.engine.dispose()

    def _open_demo_cases(self, api: str, token: str) -> None:
        """The demo cases, opened and moved in the background through the API (their log in
        var/logs/demo-cases.log); a failure there stops nothing else."""
        handler = logging.FileHandler(self.logs / "demo-cases.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        demo_log.addHandler(handler)
        demo_log.setLevel(logging.INFO)

        def run() -> None:
            try:
                opened = seed_demo_cases(api, token)
                demo_log.info("demo cases ready: %d opened now", len(opened))
            except Exception:  # the stack goes on without them
                demo_log.exception("demo cases could not all be opened")

        threading.Thread(target=run, name="demo-cases", daemon=True).start()

    def _banner(self, token: str, seeded: int) -> None:
        s = self.settings
        api = f"http://{s.api_host}:{s.api_port}"
        example = (
            '{"customer_id": "cust-0001", "trigger": "inactivity", '
            '"evidence": {"inactive_days": 400}, "policy": "demo"}'
        )
        users = "\n".join(f"    {role:<19} {email}" for email, role, _name, _loc in DEMO_USERS)
        print(
            f"""
Closeout is running (dev mode). Ctrl-C stops everything; data stays in {s.var_dir}/.

  API              {api}            (OpenAPI docs: {api}/docs)
  Health           {api}/healthz
  Caught mail      {api}/dev/mail
  Temporal         {s.temporal_address}          (database {s.var_dir}/temporal.db)
  Temporal Web UI  {s.temporal_ui_url}
  SMTP catcher     {s.smtp_host}:{s.smtp_port}
  Replies (SMTP)   {s.inbound_host}:{s.inbound_port}   (notices reply to reply+…@{s.inbound_domain})
  Database         {s.database_url}
  Logs             {self.logs}/
  Demo customers   {"seeded 50 (cust-0001 … cust-0050)" if seeded else "already seeded"}
  Demo cases       {"opening in the background: " + DEMO_SUMMARY if self.demo_cases else "off"}
  Sign in          {api}/login   (password {DEMO_PASSWORD} for every demo user)
{users}
  Admin token      {token}      (also in {s.var_dir}/dev-token)

Try a case on the `demo` policy (waits of seconds):
  TOKEN=$(cat {s.var_dir}/dev-token)
  curl -s -X POST {api}/api/cases -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' -d '{example}'
""",
            flush=True,
        )

    def _supervise(self) -> None:
        stop = {"now": False}

        def _handle(signum: int, _frame: object) -> None:
            stop["now"] = True

        signal.signal(signal.SIGINT, _handle)
        signal.signal(signal.SIGTERM, _handle)
        while not stop["now"]:
            for name, proc in self.children:
                if proc.poll() is not None:
                    log = self.logs / f"{name}.log"
                    print(f"{name} exited with code {proc.returncode}; stopping (see {log})")
                    return
            time.sleep(0.5)
        print("\nStopping…", flush=True)

    def stop(self) -> None:
        # API and worker first, Temporal last, so nothing loses its server mid-request.
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.children.clear()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
