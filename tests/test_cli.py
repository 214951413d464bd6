"""The `closeout` command line, `closeout dev` included, run as a user runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
from sqlalchemy import func
from sqlmodel import col, select

from closeout.contracts import AuditEntry, CaseChange, CaseOpened, CloseCustomerInput
from closeout.crm.models import CrmCustomer, CrmInvoice
from closeout.crypto.keyring import new_master_key
from closeout.db import Database
from closeout.demo_cases import DEMO_CASES
from closeout.domain import ChurnClass, Outcome, Role, Trigger
from closeout.inbound.address import ReplyAddresses
from closeout.settings import DEV_SECRET
from closeout.tokens import authenticate
from closeout.users.accounts import DEMO_PASSWORD, Accounts
from tests.support import VENV_BIN, free_port, read_model

CLOSEOUT = str(VENV_BIN / "closeout")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSEOUT_")}
    env.update(
        {
            "CLOSEOUT_DEV_MODE": "true",
            "CLOSEOUT_DATABASE_URL": f"sqlite:///{tmp_path}/var/closeout.db",
            "CLOSEOUT_VAR_DIR": str(tmp_path / "var"),
            **extra,
        }
    )
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLOSEOUT, *args], env=env, capture_output=True, text=True, timeout=120)


def test_db_seed_and_tokens(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _run(["db", "upgrade"], env).returncode == 0
    first = _run(["seed-demo"], env)
    assert first.returncode == 0 and "seeded 50" in first.stdout
    assert "nothing seeded" in _run(["seed-demo"], env).stdout
    created = _run(["tokens", "create", "--role", "integration", "--name", "crm-sync"], env)
    assert created.returncode == 0, created.stderr
    db = Database.from_url(env["CLOSEOUT_DATABASE_URL"])
    principal = authenticate(db, created.stdout.strip())
    assert principal is not None and principal.name == "crm-sync"
    with db.session() as session:
        assert session.exec(select(func.count()).select_from(CrmCustomer)).one() == 50
        tiers = set(session.exec(select(CrmCustomer.value_tier)).all())
        unpaid = session.exec(
            select(func.count()).select_from(CrmInvoice).where(col(CrmInvoice.paid_at).is_(None))
        ).one()
    assert tiers == {"standard", "high", "key"} and unpaid >= 4
    bad = _run(["tokens", "create", "--role", "superuser"], env)
    assert bad.returncode != 0 and "superuser" in bad.stderr


def test_detect_dry_run(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _run(["seed-demo"], env).returncode == 0
    as_json = _run(["detect", "--dry-run", "--json"], env)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    # The demo holds one customer shaped after each rule's trigger.
    assert report["counts"]["trigger"] == {
        t: 1
        for t in (
            "inactivity",
            "payment_arrears",
            "unprofitable",
            "resource_drain",
            "relationship_breakdown",
            "unreachable",
            "data_quality",  # a record with no e-mail or phone anywhere
        )
    }
    unreachable = next(c for c in report["candidates"] if c["trigger"] == "data_quality")
    assert unreachable["evidence"] == {"problem": "no_contact"}
    arrears = next(c for c in report["candidates"] if c["trigger"] == "payment_arrears")
    assert arrears["disposition"] == "new" and arrears["evidence"]["default_count"] == 3
    assert "rules" in as_json.stderr  # the progress bar, off stdout
    text = _run(["detect", "--dry-run"], env)
    assert text.stdout.strip().splitlines()[-1] == (
        "flagged 7: 7 new cases, 0 open cases, 0 excluded, 0 cooling down "
        "(dry run: nothing changed)"
    )
    # The arrears customer was won back yesterday: left alone, and the preview says why.
    case_id = _won_back_yesterday(env, arrears["customer_id"])
    cooled = json.loads(_run(["detect", "--dry-run", "--json"], env).stdout)
    held = next(c for c in cooled["candidates"] if c["customer_id"] == arrears["customer_id"])
    assert held["disposition"] == "cooling_down" and held["case_id"] == case_id
    assert (
        held["why"].startswith("cooling down until ")
        and f"case {case_id} ended retained" in (held["why"])
    )
    lines = _run(["detect", "--dry-run"], env).stdout.strip().splitlines()
    assert lines[-1] == (
        "flagged 7: 6 new cases, 0 open cases, 0 excluded, 1 cooling down "
        "(dry run: nothing changed)"
    )
    assert any("left alone: cooling down after a case" in line for line in lines)
    assert any(line.strip() == held["why"] for line in lines)


def _won_back_yesterday(env: dict[str, str], customer_id: str) -> str:
    """A case of the customer that ended retained a day ago, as the read model records it."""
    db = Database.from_url(env["CLOSEOUT_DATABASE_URL"])
    repo = read_model(db)
    case_id = str(uuid.uuid4())
    yesterday = datetime.now(UTC) - timedelta(days=1)
    repo.record_case_opened(
        CaseOpened(
            CloseCustomerInput(
                case_id,
                customer_id,
                Trigger.PAYMENT_ARREARS,
                ChurnClass.NON_MALICIOUS,
                "standard",
                "x",
            ),
            f"close-customer-{customer_id}",
            "run",
            AuditEntry(str(uuid.uuid4()), "x", "case_opened", yesterday - timedelta(days=9)),
        )
    )
    repo.apply_case_change(
        CaseChange(
            case_id,
            AuditEntry(str(uuid.uuid4()), "x", "won_back", yesterday),
            None,
            Outcome.RETAINED,
        )
    )
    db.engine.dispose()
    return case_id


def test_placeholder_secret_is_refused_outside_dev_mode(tmp_path: Path) -> None:
    env = _env(tmp_path, CLOSEOUT_DEV_MODE="false")
    result = _run(["db", "upgrade"], env)
    assert result.returncode == 2 and "CLOSEOUT_SECRET_KEY" in result.stderr
    env["CLOSEOUT_SECRET_KEY"] = "3vX4s8VdTt0WNpuigiVzsEglf3CzIqKZKnux7OWx3vs"
    result = _run(["db", "upgrade"], env)
    assert result.returncode == 2 and "CLOSEOUT_MASTER_KEYS" in result.stderr
    env["CLOSEOUT_MASTER_KEYS"] = json.dumps({"k1": _run(["keys", "new"], env).stdout.strip()})
    assert _run(["db", "upgrade"], env).returncode == 0
    # Nothing made before records named a master key: nothing to move.
    moved = _run(["keys", "rekey-records"], env)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() == (
        "0 deleted customers named again and 0 certificates signed again under master key k1"
    )


def test_users_add(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        CLOSEOUT_DEV_MODE="false",
        CLOSEOUT_SECRET_KEY="3vX4s8VdTt0WNpuigiVzsEglf3CzIqKZKnux7OWx3vs",
        CLOSEOUT_MASTER_KEYS=json.dumps({"k1": new_master_key()}),
    )
    added = subprocess.run(
        [CLOSEOUT, "users", "add", "Ada@Example.com", "--role", "manager", "--name", "Ada"],
        env=env,
        input="a-long-password\na-long-password\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    assert "added ada@example.com (manager)" in added.stdout
    accounts = Accounts(Database.from_url(env["CLOSEOUT_DATABASE_URL"]))
    user = accounts.authenticate("ada@example.com", "a-long-password")
    assert user is not None and user.role is Role.MANAGER and user.display_name == "Ada"
    assert accounts.authenticate("ada@example.com", "wrong-password") is None

    def add(*args: str, password: str) -> subprocess.CompletedProcess[str]:
        return _run(["users", "add", *args], {**env, "CLOSEOUT_NEW_USER_PASSWORD": password})

    again = add("ada@example.com", "--role", "admin", password="another-password")
    assert again.returncode == 2 and "already exists" in again.stderr
    short = add("bo@example.com", "--role", "admin", password="short")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    demo = add("cy@example.com", "--role", "admin", password=DEMO_PASSWORD)
    assert demo.returncode == 2 and "only accepted in dev mode" in demo.stderr
    bad_role = add("dee@example.com", "--role", "root", password="a-long-password")
    assert bad_role.returncode == 2 and "root" in bad_role.stderr
    not_mail = add("dee", "--role", "admin", password="a-long-password")
    assert not_mail.returncode == 2 and "not an e-mail address" in not_mail.stderr


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_dev(tmp_path: Path, ports: dict[str, int]) -> subprocess.Popen[str]:
    env = _env(
        tmp_path,
        CLOSEOUT_TEMPORAL_ADDRESS=f"127.0.0.1:{ports['temporal']}",
        CLOSEOUT_TEMPORAL_UI_URL=f"http://127.0.0.1:{ports['ui']}",
        CLOSEOUT_API_PORT=str(ports["api"]),
        CLOSEOUT_SMTP_PORT=str(ports["smtp"]),
        CLOSEOUT_ARCHIVE_DIR=str(tmp_path / "var" / "archive"),
        CLOSEOUT_MAIL_CATCHER_DIR=str(tmp_path / "var" / "mail"),
    )
    return subprocess.Popen(
        [CLOSEOUT, "dev"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_banner(proc: subprocess.Popen[str]) -> str:
    lines: list[str] = []
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if "Try a case" in line:
            return "".join(lines)
    raise AssertionError("closeout dev did not start:\n" + "".join(lines))


def _demo_cases_at_rest(api: str, headers: dict[str, str]) -> dict[str, dict[str, object]]:
    """The demo cases once each reached its stage: by customer, its id, stage, outcome, pending
    task kinds and active holds."""
    wanted = {d.customer_id for d in DEMO_CASES}
    deadline = time.monotonic() + 150
    while True:
        found: dict[str, dict[str, object]] = {}
        for c in httpx.get(f"{api}/api/cases", headers=headers).json()["items"]:
            if c["customer_id"] in wanted:
                case = httpx.get(f"{api}/api/cases/{c['id']}", headers=headers).json()
                found[c["customer_id"]] = {
                    "id": c["id"],
                    "stage": case["stage"],
                    "outcome": case["outcome"],
                    "pending": sorted(t["kind"] for t in case["pending_tasks"]),
                    "holds": sum(1 for h in case["legal_holds"] if h["active"]),
                }
        done = (
            len(found) == len(wanted)
            and found["cust-0005"]["outcome"] == "deleted"
            and found["cust-0002"]["holds"] == 1
            and found["cust-0003"]["pending"] == ["approval"]
        )
        if done:
            return found
        assert time.monotonic() < deadline, f"the demo cases never came to rest: {found}"
        time.sleep(1)


def test_dev_runs_everything_and_stops_cleanly(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("temporal", "ui", "api", "smtp")}
    proc = _start_dev(tmp_path, ports)
    try:
        banner = _read_banner(proc)
        token = (tmp_path / "var" / "dev-token").read_text().strip()
        assert token in banner and "seeded 50" in banner
        api = f"http://127.0.0.1:{ports['api']}"
        assert httpx.get(f"{api}/healthz").json()["temporal"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{ports['ui']}/", timeout=10).status_code == 200
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{api}/api/cases",
            headers=headers,
            timeout=30,
            json={
                "customer_id": "cust-0007",
                "trigger": "customer_request",
                "policy": "demo",
                "evidence": {"channel": "email", "requested_on": "2026-11-01"},
            },
        )
        assert created.status_code == 201, created.text
        assert "Demo cases       opening in the background" in banner
        demo = _demo_cases_at_rest(api, headers)
        assert demo["cust-0001"]["pending"] == ["win_back"]
        assert demo["cust-0006"]["pending"] == ["win_back"]
        assert demo["cust-0003"]["pending"] == ["approval"]
        assert demo["cust-0002"]["stage"] == "retention" and demo["cust-0002"]["holds"] == 1
        assert demo["cust-0005"]["outcome"] == "deleted"
        certificate = httpx.get(
            f"{api}/api/cases/{demo['cust-0005']['id']}/certificate", headers=headers
        )
        assert certificate.status_code == 200 and certificate.json()["authentic"]

        def win_back_mail() -> list[dict[str, str]]:
            return [m for m in httpx.get(f"{api}/dev/mail").json() if "keep you" in m["subject"]]

        deadline = time.monotonic() + 30
        while not win_back_mail() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert win_back_mail(), "the win-back mail never reached the catcher"
        # The notice replies to its case's own address; a reply there is taken on loopback.
        # (cust-0001's case waits in win-back; cust-0005's, deleted, takes no more mail.)
        waiting = ReplyAddresses(DEV_SECRET, "replies.localhost").address_for(
            str(demo["cust-0001"]["id"])
        )
        [notice] = [m for m in win_back_mail() if m["reply_to"] == waiting]
        assert notice["reply_to"].startswith("reply+")
        assert notice["reply_to"].endswith("@replies.localhost") and notice["in_reply_to"] == ""
        reply = EmailMessage()
        reply["From"], reply["To"], reply["Subject"] = "ana@example.org", notice["reply_to"], "Re"
        reply["In-Reply-To"] = notice["message_id"]
        reply.set_content("Please keep my account.")
        with smtplib.SMTP("127.0.0.1", 2525, timeout=30) as smtp:
            assert not smtp.send_message(reply, "ana@example.org", [notice["reply_to"]])
        # `closeout inbound` hands it to the case: its owner gets a task to read it.
        waiting_case = f"{api}/api/cases/{demo['cust-0001']['id']}"
        deadline = time.monotonic() + 60
        while "customer_reply" not in [
            t["kind"] for t in httpx.get(waiting_case, headers=headers).json()["pending_tasks"]
        ]:
            assert time.monotonic() < deadline, "the reply never became the owner's task"
            time.sleep(0.5)
        html = {"Accept": "text/html"}
        listing = httpx.get(f"{api}/dev/mail", headers=html)
        mail_id = win_back_mail()[0]["id"]
        assert listing.headers["content-type"].startswith("text/html")
        assert f'href="/dev/mail/{mail_id}"' in listing.text
        message = httpx.get(f"{api}/dev/mail/{mail_id}", headers=html).text
        assert f'<a href="{api}/r/' in message  # the stay link, clickable
        assert httpx.get(f"{api}/dev/mail/nope").status_code == 404
        # Every demo user signs in with the demo password; the banner lists them.
        for email in ("sam.okafor@example.com", "grace.manager@example.com"):
            assert email in banner
            with httpx.Client(base_url=api) as browser:
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text)
                assert csrf is not None
                signed = browser.post(
                    "/login",
                    data={"email": email, "password": "closeout-demo", "csrf_token": csrf[1]},
                )
                assert signed.status_code == 303 and signed.headers["location"] == "/inbox"
                # Work at once: Sam's win-back offer; everyone's tasks for the manager.
                view = "mine" if email.startswith("sam") else "all"
                inbox = browser.get("/inbox", params={"view": view})
                assert inbox.status_code == 200 and "data-task=" in inbox.text
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    assert not any(_port_open(p) for p in ports.values()), "a child outlived closeout dev"
    assert (tmp_path / "var" / "temporal.db").exists()

    again = _start_dev(tmp_path, ports)
    try:
        banner = _read_banner(again)
        assert "already seeded" in banner and token in banner
        time.sleep(2)  # the demo cases' look: every demo customer has a case, none is opened
        cases = httpx.get(f"http://127.0.0.1:{ports['api']}/api/cases", headers=headers).json()
        customers = sorted(c["customer_id"] for c in cases["items"])
        assert customers == sorted([*(d.customer_id for d in DEMO_CASES), "cust-0007"])
    finally:
        again.send_signal(signal.SIGINT)
        assert again.wait(timeout=60) == 0


def test_policies_diff_names_an_unknown_policy(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _run(["db", "upgrade"], env).returncode == 0
    result = _run(["policies", "diff", "lenient"], env)
    assert result.returncode == 2
    assert "no policy 'lenient' in the configuration (known: demo, standard)" in result.stderr
    blank = _run(["policies", "apply", "standard", "--reason", " "], env)
    assert blank.returncode == 2 and "a reason is required" in blank.stderr


def test_tokens_create_list_revoke(tmp_path: Path) -> None:
    env = _env(tmp_path, CLOSEOUT_NEW_USER_PASSWORD="a-long-password")
    assert _run(["users", "add", "ada@example.com", "--role", "manager"], env).returncode == 0
    assert "30d (days)" in _run(["tokens", "create", "--help"], env).stdout
    created = _run(["tokens", "create", "--name", "ada@example.com", "--expires", "30d"], env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    db = Database.from_url(env["CLOSEOUT_DATABASE_URL"])
    principal = authenticate(db, token)
    assert principal is not None and principal.role is Role.MANAGER
    listing = _run(["tokens", "list"], env)
    assert (
        listing.returncode == 0
        and token not in listing.stdout
        and token[4:16] not in listing.stdout
    )
    [row] = [line for line in listing.stdout.splitlines() if "ada@example.com" in line]
    token_id = row.split()[0]
    assert "manager" in row and row.count("-") >= 4  # created and expiry dates, no revocation
    revoked = _run(["tokens", "revoke", token_id], env)
    assert revoked.returncode == 0 and f"revoked token {token_id}" in revoked.stdout
    assert authenticate(db, token) is None
    assert "already revoked" in _run(["tokens", "revoke", token_id], env).stdout
    unknown = _run(["tokens", "revoke", "no-such-id"], env)
    assert unknown.returncode == 2 and "no token 'no-such-id'" in unknown.stderr
    bad = _run(["tokens", "create", "--name", "ada@example.com", "--expires", "30x"], env)
    assert bad.returncode == 2 and "12h (hours), 30d (days)" in bad.stderr
    nobody = _run(["tokens", "create", "--role", "admin", "--name", "eve@example.com"], env)
    assert nobody.returncode == 2 and "no user 'eve@example.com'" in nobody.stderr
    crm = _run(["tokens", "create", "--role", "integration", "--name", "crm-sync"], env)
    assert crm.returncode == 0 and authenticate(db, crm.stdout.strip()) is not None
    db.engine.dispose()


def test_users_list_disable_enable_set_role(tmp_path: Path) -> None:
    env = _env(tmp_path, CLOSEOUT_NEW_USER_PASSWORD="a-long-password")
    assert _run(["users", "add", "ada@example.com", "--role", "manager"], env).returncode == 0
    token = _run(["tokens", "create", "--name", "ada@example.com"], env).stdout.strip()
    db = Database.from_url(env["CLOSEOUT_DATABASE_URL"])
    changed = _run(["users", "set-role", "ada@example.com", "admin"], env)
    assert changed.returncode == 0 and "ada@example.com is now admin" in changed.stdout
    principal = authenticate(db, token)
    assert principal is not None and principal.role is Role.ADMIN
    assert "disabled ada@example.com" in _run(["users", "disable", "ada@example.com"], env).stdout
    assert authenticate(db, token) is None
    assert Accounts(db).authenticate("ada@example.com", "a-long-password") is None
    [row] = _run(["users", "list"], env).stdout.splitlines()
    assert row.startswith("ada@example.com") and "admin" in row and "disabled" in row
    assert "enabled ada@example.com" in _run(["users", "enable", "ada@example.com"], env).stdout
    assert authenticate(db, token) is not None
    for args in (["disable", "eve@example.com"], ["set-role", "ada@example.com", "integration"]):
        refused = _run(["users", *args], env)
        assert refused.returncode == 2 and refused.stderr.startswith("error: ")
    db.engine.dispose()


def test_dev_mode_is_refused_off_loopback(tmp_path: Path) -> None:
    env = _env(tmp_path)
    exposed = _run(["api", "--host", "0.0.0.0"], env)
    assert exposed.returncode == 2
    assert "dev mode only serves a loopback address" in exposed.stderr
    configured = _run(["api"], {**env, "CLOSEOUT_API_HOST": "0.0.0.0"})
    assert configured.returncode == 2 and "loopback" in configured.stderr
