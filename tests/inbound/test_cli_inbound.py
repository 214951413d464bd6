"""`closeout inbound` as an operator runs it: a message fed from a file, and the SMTP endpoint
listening as a process of its own."""

from __future__ import annotations

import smtplib
import subprocess
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import select

from closeout.db import Database, upgrade
from closeout.inbound.address import ReplyAddresses
from closeout.inbound.models import InboundMessage
from closeout.settings import DEV_SECRET
from tests.cases.test_insights import _case
from tests.support import free_port, read_model
from tests.test_cli import CLOSEOUT, _env, _run

DOMAIN = "replies.example.com"


def _case_and_address(env: dict[str, str]) -> tuple[Database, str, str]:
    upgrade(env["CLOSEOUT_DATABASE_URL"])
    db = Database.from_url(env["CLOSEOUT_DATABASE_URL"])
    case_id = _case(read_model(db), datetime(2026, 11, 2, tzinfo=UTC))
    return db, case_id, ReplyAddresses(DEV_SECRET, DOMAIN).address_for(case_id)


def _message(to: str, body: str = "Please keep my account.") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "ana@example.org"
    msg["To"] = to
    msg["Subject"] = "Re: your account"
    msg["Message-ID"] = f"<{time.time_ns()}@example.org>"
    msg.set_content(body)
    return msg


def test_a_message_fed_from_a_file_lands_on_its_case(tmp_path: Path) -> None:
    env = _env(tmp_path, CLOSEOUT_INBOUND_DOMAIN=DOMAIN)
    db, case_id, address = _case_and_address(env)
    fed = tmp_path / "reply.eml"
    fed.write_bytes(_message(address).as_bytes())
    done = _run(["inbound", "--file", str(fed)], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"accepted (case {case_id})")
    # No Temporal here: the reply is kept, waiting to be handed to its case.
    assert "kept: handed to its case once Temporal answers" in done.stdout
    forged = tmp_path / "forged.eml"
    forged.write_bytes(_message(address.replace(address[6:10], "aaaa")).as_bytes())
    refused = _run(["inbound", "--file", str(forged)], env)
    assert refused.returncode == 1 and refused.stdout.startswith("forged: 550")
    missing = _run(["inbound", "--file", str(tmp_path / "none.eml")], env)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    with db.session() as session:
        assert [m.case_id for m in session.exec(select(InboundMessage))] == [case_id]
    db.engine.dispose()


def test_without_an_inbound_domain_it_says_so(tmp_path: Path) -> None:
    done = _run(["inbound", "--file", "x.eml"], _env(tmp_path))
    assert done.returncode == 2 and "CLOSEOUT_INBOUND_DOMAIN" in done.stderr


@pytest.mark.parametrize("lmtp", [False, True], ids=["smtp", "lmtp"])
def test_the_endpoint_listens_as_its_own_process(tmp_path: Path, lmtp: bool) -> None:
    """`closeout inbound` over SMTP, or LMTP for the local MTA (`--lmtp`)."""
    env = _env(tmp_path, CLOSEOUT_INBOUND_DOMAIN=DOMAIN)
    db, case_id, address = _case_and_address(env)
    port = free_port()
    process = subprocess.Popen(
        [CLOSEOUT, "inbound", "--port", str(port), *(["--lmtp"] if lmtp else [])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert "receiving mail for replies.example.com" in banner
        assert ("(LMTP;" in banner) is lmtp
        client = smtplib.LMTP if lmtp else smtplib.SMTP
        with client("127.0.0.1", port, timeout=30) as server:
            assert server.send_message(_message(address), "ana@example.org", [address]) == {}
    finally:
        process.terminate()
        process.wait(timeout=30)
    with db.session() as session:
        assert [m.case_id for m in session.exec(select(InboundMessage))] == [case_id]
    db.engine.dispose()
