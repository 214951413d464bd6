"""Replies read from an IMAP mailbox on a real IMAP server (pymap, started by the test on
loopback), on SQLite and PostgreSQL: each unread message gets the outcome it would get over
SMTP; a kept one leaves the mailbox, a refused one stays there, read; an oversized one is never
downloaded."""

from __future__ import annotations

import imaplib
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from closeout.inbound.imap import ImapError, ImapMailbox, fetch_replies
from closeout.inbound.receiving import InboundOutcome
from tests.inbound.conftest import Endpoint, messages_away
from tests.support import VENV_BIN, free_port
from tests.test_cli import _env, _run

USER, PASSWORD = "demouser", "demopass"
MAILBOX = "Replies"


@pytest.fixture
def imap_port(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    server = subprocess.Popen(
        [str(VENV_BIN / "pymap"), "--host", "127.0.0.1", "--port", str(port), "--no-tls",
         "dict", "--demo-data", "--demo-user", USER, "--demo-password", PASSWORD],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "pymap.log").open("wb"),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert server.poll() is None and time.monotonic() < deadline, "pymap did not start"
        time.sleep(0.1)
    with imaplib.IMAP4("127.0.0.1", port) as imap:
        imap.login(USER, PASSWORD)
        imap.create(MAILBOX)
    yield port
    server.terminate()
    server.wait(timeout=10)


def _deliver(port: int, msg: EmailMessage) -> None:
    with imaplib.IMAP4("127.0.0.1", port) as imap:
        imap.login(USER, PASSWORD)
        imap.append(MAILBOX, None, None, msg.as_bytes())  # type: ignore[arg-type]


def _left(port: int) -> dict[str, bool]:
    """Subject → read, of what is still in the mailbox."""
    with imaplib.IMAP4("127.0.0.1", port) as imap:
        imap.login(USER, PASSWORD)
        imap.select(MAILBOX)
        _typ, found = imap.uid("SEARCH", None, "ALL")  # type: ignore[arg-type]
        left: dict[str, bool] = {}
        for uid in found[0].decode().split():
            _typ, data = imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            head, subject = data[0]  # type: ignore[misc]
            left[subject.decode().removeprefix("Subject: ").strip()] = b"\\Seen" in head
        return left


def _message(to: str, subject: str, body: str = "Please keep my account.") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ana Customer <ana@example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4()}@example.org>"
    msg.set_content(body)
    return msg


def test_unread_replies_are_fetched_once_each_with_its_outcome(
    endpoint: Endpoint, imap_port: int
) -> None:
    case_id, _customer = endpoint.case()
    address = endpoint.inbound.replies.address_for(case_id)
    _deliver(imap_port, _message(address, "kept"))
    _deliver(imap_port, _message(f"privacy@{endpoint.inbound.replies.domain}", "unmatched"))
    _deliver(imap_port, _message(address, "too big", "x" * 30_000))  # the limit is 20,000
    box = ImapMailbox.parse(f"imap://{USER}@127.0.0.1:{imap_port}/{MAILBOX}")
    outcomes = fetch_replies(box, PASSWORD, endpoint.inbound, datetime.now(UTC))
    assert [r.outcome for r in outcomes] == [
        InboundOutcome.ACCEPTED,
        InboundOutcome.UNMATCHED,
        InboundOutcome.OVERSIZED,
    ]
    [kept] = endpoint.repo.sealed.open(endpoint.kept(case_id))
    assert kept.text == "Please keep my account." and kept.subject == "kept"
    # Kept: gone from the mailbox; refused: left there, read, for a person.
    assert _left(imap_port) == {"unmatched": True, "too big": True}
    # A second pass finds nothing new.
    assert fetch_replies(box, PASSWORD, endpoint.inbound, datetime.now(UTC)) == []


def test_a_message_that_cannot_be_kept_now_stays_unread_and_the_rest_are_read(
    endpoint: Endpoint, imap_port: int
) -> None:
    """One message the database cannot take now no longer stops the pass (it raised, and every
    message after it waited for good behind it): it stays unread for the next pass."""
    case_id, _customer = endpoint.case()
    address = endpoint.inbound.replies.address_for(case_id)
    _deliver(imap_port, _message(address, "kept later"))
    _deliver(imap_port, _message(f"privacy@{endpoint.inbound.replies.domain}", "unmatched"))
    box = ImapMailbox.parse(f"imap://{USER}@127.0.0.1:{imap_port}/{MAILBOX}")
    with endpoint.messages_away():
        outcomes = fetch_replies(box, PASSWORD, endpoint.inbound, datetime.now(UTC))
    assert [r.outcome for r in outcomes] == [InboundOutcome.FAILED, InboundOutcome.UNMATCHED]
    assert _left(imap_port) == {"kept later": False, "unmatched": True}
    outcomes = fetch_replies(box, PASSWORD, endpoint.inbound, datetime.now(UTC))
    assert [r.outcome for r in outcomes] == [InboundOutcome.ACCEPTED]
    assert _left(imap_port) == {"unmatched": True}
    assert len(endpoint.kept(case_id)) == 1


def test_a_message_the_parser_cannot_read_is_left_read_and_the_rest_are_read(
    endpoint: Endpoint, imap_port: int
) -> None:
    """A To: header the mail parser trips over (addressing is read from the headers here)
    stopped the pass with its error, on every pass, before the messages after it."""
    case_id, _customer = endpoint.case()
    address = endpoint.inbound.replies.address_for(case_id)
    with imaplib.IMAP4("127.0.0.1", imap_port) as imap:
        imap.login(USER, PASSWORD)
        unreadable = b'From: ana@example.org\r\nTo: "\r\nSubject: unreadable\r\n\r\nhi\r\n'
        imap.append(MAILBOX, None, None, unreadable)  # type: ignore[arg-type]
    _deliver(imap_port, _message(address, "kept"))
    box = ImapMailbox.parse(f"imap://{USER}@127.0.0.1:{imap_port}/{MAILBOX}")
    outcomes = fetch_replies(box, PASSWORD, endpoint.inbound, datetime.now(UTC))
    assert [r.outcome for r in outcomes] == [InboundOutcome.UNREADABLE, InboundOutcome.ACCEPTED]
    assert _left(imap_port) == {"unreadable": True}
    assert len(endpoint.kept(case_id)) == 1


def test_a_mailbox_that_cannot_be_read_says_why(endpoint: Endpoint, imap_port: int) -> None:
    box = ImapMailbox.parse(f"imap://{USER}@127.0.0.1:{imap_port}/{MAILBOX}")
    with pytest.raises(ImapError, match="refused the sign-in"):
        fetch_replies(box, "wrong", endpoint.inbound, datetime.now(UTC))
    missing = ImapMailbox.parse(f"imap://{USER}@127.0.0.1:{imap_port}/Nope")
    with pytest.raises(ImapError, match="no such mailbox"):
        fetch_replies(missing, PASSWORD, endpoint.inbound, datetime.now(UTC))
    with pytest.raises(ImapError, match="cannot reach"):
        fetch_replies(
            ImapMailbox.parse(f"imap://{USER}@127.0.0.1:{free_port()}/INBOX"),
            PASSWORD,
            endpoint.inbound,
            datetime.now(UTC),
        )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("pop3://u@h/INBOX", "not pop3://"),
        ("imaps://mail.example.com/INBOX", "names its user and host"),
        ("imaps://u:secret@mail.example.com/INBOX", "password out of the URL"),
        ("imaps://u@mail.example.com:99999/INBOX", "bad port"),
        ("imaps://u%0D%0Ax@mail.example.com/INBOX", "user must be printable ASCII"),
        ("imaps://u@mail.example.com/A%0D%0ALOGOUT", "mailbox must be printable ASCII"),
    ],
)
def test_a_wrong_mailbox_url_says_why(url: str, reason: str) -> None:
    with pytest.raises(ImapError, match=reason):
        ImapMailbox.parse(url)


def test_mailbox_urls_read_plainly() -> None:
    box = ImapMailbox.parse("imaps://replies%40example.com@mail.example.com/Closeout%20replies")
    assert (box.user, box.host, box.port, box.mailbox, box.implicit_tls) == (
        "replies@example.com", "mail.example.com", 993, "Closeout replies", True,
    )  # fmt: skip
    assert ImapMailbox.parse("imap://u@mail.example.com").port == 143


def test_a_plain_connection_is_refused_off_loopback(
    imap_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No STARTTLS offered (pymap without TLS): a password goes in clear only to loopback, so
    the same server taken for a remote one is refused before the sign-in."""
    monkeypatch.setattr("closeout.inbound.imap._loopback", lambda host: False)
    box = ImapMailbox("127.0.0.1", imap_port, USER, MAILBOX, implicit_tls=False)
    with pytest.raises(ImapError, match="offers no STARTTLS"):
        fetch_replies(box, PASSWORD, None, datetime.now(UTC))  # type: ignore[arg-type]


def test_closeout_inbound_reads_the_mailbox_once(tmp_path: Path, imap_port: int) -> None:
    from tests.inbound.test_cli_inbound import DOMAIN, _case_and_address

    env = _env(
        tmp_path,
        CLOSEOUT_INBOUND_DOMAIN=DOMAIN,
        CLOSEOUT_INBOUND_IMAP_URL=f"imap://{USER}@127.0.0.1:{imap_port}/{MAILBOX}",
        CLOSEOUT_INBOUND_IMAP_PASSWORD=PASSWORD,
    )
    db, case_id, address = _case_and_address(env)
    _deliver(imap_port, _message(address, "kept"))
    _deliver(imap_port, _message(address, "kept later"))
    with messages_away(db):  # cron learns that a message waits for the next pass
        failed = _run(["inbound", "--imap", "--once"], env)
    assert failed.returncode == 1 and "failed" in failed.stdout, failed.stderr
    assert _left(imap_port) == {"kept": False, "kept later": False}
    done = _run(["inbound", "--imap", "--once"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"accepted (case {case_id})") == 2
    assert _left(imap_port) == {}
    wrong = _run(["inbound", "--imap", "--once"], {**env, "CLOSEOUT_INBOUND_IMAP_PASSWORD": "x"})
    assert wrong.returncode == 2 and "refused the sign-in" in wrong.stderr
    unset = {k: v for k, v in env.items() if k != "CLOSEOUT_INBOUND_IMAP_URL"}
    missing = _run(["inbound", "--imap", "--once"], unset)
    assert missing.returncode == 2 and "CLOSEOUT_INBOUND_IMAP_URL" in missing.stderr
    db.engine.dispose()
