"""Every command of the README's "Command line" section, run as printed in a checkout where
`closeout dev` runs: with nothing in the environment but what a newcomer's shell holds, the
commands take the dev configuration `closeout dev` left in var/dev.env (closeout/dev_env.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from email.message import EmailMessage
from pathlib import Path

from closeout.dev_env import apply_dev_env, write_dev_env
from tests.support import VENV_BIN, free_port
from tests.test_cli import _read_banner, _start_dev

README = Path(__file__).resolve().parents[1] / "README.md"
CLOSEOUT = str(VENV_BIN / "closeout")
# Commands that serve until stopped: `closeout dev` starts each of them (dev, worker, api,
# inbound), and test_cli.py runs `closeout dev` itself; the IMAP reader needs a mailbox.
SERVERS = {
    "closeout dev",
    "closeout worker",
    "closeout api",
    "closeout inbound [--host",
    "closeout inbound --imap",
}


def _readme_commands() -> list[str]:
    section = README.read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_every_readme_command_works_in_the_checkout_closeout_dev_runs_in(
    tmp_path: Path,
) -> None:
    ports = {name: free_port() for name in ("temporal", "ui", "api", "smtp")}
    proc = _start_dev(tmp_path, ports)
    # A newcomer's shell: no CLOSEOUT_* variable at all, in the checkout.
    shell = {k: v for k, v in os.environ.items() if not k.startswith("CLOSEOUT_")}
    done: dict[str, subprocess.CompletedProcess[str]] = {}

    def run(readme: str, *args: str, code: int = 0, **env: str) -> str:
        found = subprocess.run(
            [CLOSEOUT, *args], env=shell | env, cwd=tmp_path, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert found.returncode == code, (args, found.stdout, found.stderr)
        done[readme] = found
        return found.stdout

    try:
        _read_banner(proc)
        assert (tmp_path / "var" / "dev.env").stat().st_mode & 0o777 == 0o600
        run("closeout db upgrade", "db", "upgrade")
        assert "nothing seeded" in run("closeout seed-demo", "seed-demo")
        token = run("closeout tokens create --name EMAIL", "tokens", "create", "--name",
                    "li.na@example.com", "--expires", "30d").strip().splitlines()[-1]  # fmt: skip
        assert len(token) > 20
        run("closeout tokens create --role integration", "tokens", "create", "--role",
            "integration", "--name", "crm-sync")  # fmt: skip
        listed = run("closeout tokens list", "tokens", "list")
        (sync,) = [line.split()[0] for line in listed.splitlines() if "crm-sync" in line]
        assert "revoked token" in run("closeout tokens revoke ID", "tokens", "revoke", sync)
        scan = json.loads(run("closeout detect", "detect", "--dry-run", "--json"))
        assert scan["candidates"] is not None
        mail = tmp_path / "reply.eml"
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.org", "x@nowhere", "Hi"
        message.set_content("hello")
        mail.write_bytes(bytes(message))
        refused = run("closeout inbound --file MSG.eml", "inbound", "--file", str(mail), code=1)
        assert refused.startswith("unmatched: 550 5.1.1 No such recipient")
        newcomer = "new.manager@example.com"
        run("closeout users add EMAIL --role ROLE", "users", "add", newcomer, "--role",
            "account_manager", "--name", "New", "--locale", "zh-CN",
            CLOSEOUT_NEW_USER_PASSWORD="a long enough password")  # fmt: skip
        assert newcomer in run("closeout users list", "users", "list")
        run("closeout users disable|enable EMAIL", "users", "disable", newcomer)
        run("closeout users disable|enable EMAIL", "users", "enable", newcomer)
        run("closeout users set-role EMAIL ROLE", "users", "set-role", newcomer, "manager")
        verified = json.loads(run("closeout audit verify", "audit", "verify", "--json"))
        assert verified["intact"] is True, verified
        assert re.search(r"\S{40,}", run("closeout keys new", "keys", "new"))
        run("closeout keys rotate", "keys", "rotate")
        run("closeout keys rekey-records", "keys", "rekey-records")
        run("closeout keys seal-words", "keys", "seal-words")
        run("closeout suppression check", "suppression", "check")
        json.loads(run("closeout policies diff NAME", "policies", "diff", "demo", "--json"))
        run("closeout policies apply NAME --reason R", "policies", "apply", "demo", "--reason",
            "the README's commands, tried")  # fmt: skip
        shown = run("closeout deployment show", "deployment", "show")
        current = re.search(r"current build (\S+)", shown)
        assert current is not None, shown
        run("closeout deployment set-current BUILD", "deployment", "set-current", current[1])
        checked = run("closeout connectors check", "connectors", "check", "--customer",
                      "cust-0001")  # fmt: skip
        assert checked.startswith("customer source: crm")
        # Dev mode is a warning, not a failure: the dev stack's configuration passes.
        assert run("closeout check-config", "check-config").startswith("ok: ")
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    # Every command the README prints was run here, or is a server `closeout dev` runs.
    for command in _readme_commands():
        assert any(command.startswith(c) for c in (*done, *SERVERS)), f"untried: {command}"


def test_the_dev_env_applies_only_in_its_checkout_and_never_over_a_deployment(
    tmp_path: Path,
) -> None:
    checkout = tmp_path / "checkout"
    written = write_dev_env(
        checkout / "var",
        {"CLOSEOUT_API_PORT": "8123", "HOME": "/root", "CLOSEOUT_SMTP_PASSWORD": "hunter2",
         "CLOSEOUT_COMPANY_NAME": "Acme\rCLOSEOUT_API_HOST=0.0.0.0"},
        checkout,
    )  # fmt: skip
    text = written.read_text()
    assert "HOME" not in text and "hunter2" not in text and "0.0.0.0" not in text
    assert written.stat().st_mode & 0o777 == 0o600
    env: dict[str, str] = {}
    assert apply_dev_env(env, checkout) == written
    assert env == {"CLOSEOUT_API_PORT": "8123", "CLOSEOUT_DEV_MODE": "true"}
    # What the environment sets wins, whatever its case.
    env = {"closeout_api_port": "9000"}
    apply_dev_env(env, checkout)
    assert env == {"closeout_api_port": "9000", "CLOSEOUT_DEV_MODE": "true"}
    # A deployment of its own: its secret key, keys, database, Temporal, or dev mode said.
    for deployment in (
        {"CLOSEOUT_SECRET_KEY": "x" * 40},
        {"closeout_secret_key": "x" * 40},
        {"CLOSEOUT_MASTER_KEYS": "{}"},
        {"CLOSEOUT_DATABASE_URL": "postgresql://db/closeout"},
        {"CLOSEOUT_DEV_MODE": "false"},
    ):
        env = dict(deployment)
        assert apply_dev_env(env, checkout) is None and env == deployment
    # A copy of the var folder elsewhere is not this checkout.
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "var").mkdir(parents=True)
    (elsewhere / "var" / "dev.env").write_text(text)
    (elsewhere / "var" / "dev.env").chmod(0o600)
    env = {}
    assert apply_dev_env(env, elsewhere) is None and env == {}
    # A file others may write, or a link, is not taken.
    written.chmod(0o666)
    assert apply_dev_env({}, checkout) is None
    written.chmod(0o600)
    written.rename(checkout / "var" / "real.env")
    (checkout / "var" / "dev.env").symlink_to(checkout / "var" / "real.env")
    assert apply_dev_env({}, checkout) is None
