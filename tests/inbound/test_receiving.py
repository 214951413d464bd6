"""The inbound endpoint over real SMTP (aiosmtpd on loopback, aiosmtplib sending), on SQLite
and PostgreSQL: each kind of message that comes back gets its defined outcome, what is kept is
sealed, and it goes with the customer's words at deletion."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib
import pytest
from sqlmodel import col, select

from closeout.cases.erasure import CustomerWords
from closeout.contracts import CaseChange
from closeout.crm.models import CrmContact
from closeout.demo import add_customer
from closeout.domain import Outcome, Stage
from closeout.inbound.models import InboundAttachment, InboundMessage
from closeout.inbound.reading import InboundKind
from closeout.inbound.receiving import InboundOutcome
from closeout.inbound.smtp import start_inbound
from tests.cases.test_insights import _entry
from tests.inbound.conftest import DOMAIN, Endpoint
from tests.inbound.test_reading import NOTICE_ID as ODD_NOTICE_ID
from tests.inbound.test_reading import ODD_IDS
from tests.support import free_port

NOTICE_ID = "<notice-42@closeout>"


def _reply(
    body: str, message_id: str | None = None, in_reply_to: str | None = None
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ana Customer <ana@example.org>"
    msg["To"] = "someone"
    msg["Subject"] = "Re: your account"
    msg["Message-ID"] = message_id or f"<{uuid.uuid4()}@example.org>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    return msg


async def test_a_reply_to_its_case_address_is_kept_sealed_and_once(endpoint: Endpoint) -> None:
    case_id, customer = endpoint.case()
    address = endpoint.inbound.replies.address_for(case_id)
    msg = _reply("Please keep my account, I was on leave.\n\nOn Monday you wrote:\n> close\n")
    msg.add_attachment(b"%PDF-1.4 letter", maintype="application", subtype="pdf",
                       filename="letter.pdf")  # fmt: skip
    await endpoint.send(msg, address)
    await endpoint.send(msg, address)  # delivered twice: kept once
    [kept] = endpoint.kept(case_id)
    assert kept.kind == "reply" and kept.customer_id == customer
    assert "leave" not in (kept.text or "")  # sealed in the database
    [opened] = endpoint.repo.sealed.open([kept])
    assert opened.text == "Please keep my account, I was on leave."
    assert opened.sender == "Ana Customer <ana@example.org>"
    with endpoint.db.session() as session:
        [attachment] = session.exec(select(InboundAttachment)).all()
    assert attachment.size_bytes == 15 and attachment.content_type == "application/pdf"
    assert "letter" not in (attachment.filename or "")
    # The customer's deletion erases it, and its verification would find it otherwise.
    words = CustomerWords(endpoint.db)
    assert {"inbound_message.text", "inbound_attachment.content"} <= set(words.remaining(customer))
    words.erase(customer)
    assert words.remaining(customer) == {}


async def test_a_reply_to_another_address_is_matched_by_the_notice_it_answers(
    endpoint: Endpoint,
) -> None:
    case_id, _customer = endpoint.case()
    endpoint.notice_sent(case_id, NOTICE_ID)
    await endpoint.send(_reply("Do not close it.", in_reply_to=NOTICE_ID), f"privacy@{DOMAIN}")
    assert len(endpoint.kept(case_id)) == 1


@pytest.mark.parametrize(
    ("to", "in_reply_to", "code"),
    [
        ("forged", None, 550),  # a token Closeout did not make
        (f"privacy@{DOMAIN}", None, 550),  # nothing it answers
        (f"privacy@{DOMAIN}", "<unknown@elsewhere>", 550),
    ],
)
async def test_what_cannot_be_tied_to_a_case_is_refused_and_not_kept(
    endpoint: Endpoint, to: str, in_reply_to: str | None, code: int
) -> None:
    case_id, _customer = endpoint.case()
    if to == "forged":
        other = endpoint.inbound.replies.address_for(str(uuid.uuid4()))
        mine = endpoint.inbound.replies.address_for(case_id)
        to = other.split(".")[0] + "." + mine.split(".", 1)[1]
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await endpoint.send(_reply("hello", in_reply_to=in_reply_to), to)
    assert refused.value.code == code
    with endpoint.db.session() as session:
        assert session.exec(select(InboundMessage)).all() == []


async def test_a_reply_with_ids_no_database_holds_is_matched_and_kept(endpoint: Endpoint) -> None:
    """A NUL in a Message-ID, an In-Reply-To or an attachment's type, or an id longer than the
    column: PostgreSQL refused to look such an id up or to store it, and the message was
    answered with the database's error (a 500 naming it)."""
    case_id, _customer = endpoint.case()
    endpoint.notice_sent(case_id, ODD_NOTICE_ID)
    await aiosmtplib.send(
        ODD_IDS, hostname="127.0.0.1", port=endpoint.port, sender="ana@example.org",
        recipients=[f"privacy@{DOMAIN}"],
    )  # fmt: skip
    [kept] = endpoint.kept(case_id)
    assert kept.message_id is None
    with endpoint.db.session() as session:
        types = session.exec(select(InboundAttachment.content_type)).all()
    assert types == ["application/octet-stream"] * 2


async def test_a_message_that_cannot_be_kept_now_is_refused_for_now(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    """A temporary refusal the sending server tries again, naming no internals; the retry is
    kept. (A failure escaped to aiosmtpd before, which answered a permanent 500 with the
    exception's text.)"""
    case_id, _customer = endpoint.case()
    address = endpoint.inbound.replies.address_for(case_id)
    msg = _reply("Keep my account.")
    with endpoint.messages_away(), pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await endpoint.send(msg, address)
    assert refused.value.code == 451
    assert "inbound" not in refused.value.message.lower()
    # The failure's kind and where in Closeout, none of the message's values (the database
    # error's own text names the statement and its parameters: the Message-ID among them).
    assert "not kept" in caplog.text and "Error (at " in caplog.text
    assert " _keep" in caplog.text  # the frame it was raised in, by file, line and function
    for value in (msg["Message-ID"], "ana@example.org", "Keep my account", "[SQL", "SELECT"):
        assert value not in caplog.text
    await endpoint.send(msg, address)  # the sending server's next try
    [kept] = endpoint.kept(case_id)
    assert kept.message_id == msg["Message-ID"]


async def test_a_message_the_parser_cannot_read_is_refused_for_good(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    """A header the mail parser trips over fails the same way every time: a permanent 554 the
    sender bounces, not a 451 it would retry for days."""
    case_id, _customer = endpoint.case()
    address = endpoint.inbound.replies.address_for(case_id)
    raw = f"From: ana@example.org\r\nTo: {address}\r\nMessage-ID: <\r\n\r\nKeep my account\r\n"
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await aiosmtplib.send(
            raw.encode(), hostname="127.0.0.1", port=endpoint.port, sender="ana@example.org",
            recipients=[address],
        )  # fmt: skip
    assert refused.value.code == 554
    assert endpoint.kept(case_id) == []
    assert "could not be read" in caplog.text and "Keep my account" not in caplog.text
    # Without its envelope, a To: header the parser trips over is the same refusal.
    unaddressed = b'From: ana@example.org\r\nTo: "\r\n\r\nKeep my account\r\n'
    received = endpoint.inbound.receive(unaddressed, None, datetime.now(UTC))
    assert received.outcome is InboundOutcome.UNREADABLE


async def test_mail_for_another_domain_is_no_relay(endpoint: Endpoint) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await endpoint.send(_reply("hello"), "someone@example.net")


async def test_oversized_mail_is_refused_before_it_is_read(endpoint: Endpoint) -> None:
    case_id, _customer = endpoint.case()
    address = endpoint.inbound.replies.address_for(case_id)
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await endpoint.send(_reply("x" * 30_000), address)
    assert refused.value.code == 552
    assert endpoint.kept(case_id) == []
    received = endpoint.inbound.receive(b"x" * 30_000, [address], datetime.now(UTC))
    assert received.outcome is InboundOutcome.OVERSIZED


async def test_mail_for_a_deleted_customer_is_refused_and_not_kept(endpoint: Endpoint) -> None:
    case_id, _customer = endpoint.case()
    endpoint.repo.apply_case_change(
        CaseChange(case_id, _entry("case_closed", datetime.now(UTC)), Stage.CLOSED, Outcome.DELETED)
    )
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await endpoint.send(_reply("hello"), endpoint.inbound.replies.address_for(case_id))
    assert refused.value.code == 550 and "no longer exists" in refused.value.message
    assert endpoint.kept(case_id) == []


def _delivery_report(notice_id: str, recipient: str, status: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\r\nTo: bounces@replies.example.com\r\n"
        f"Subject: Undelivered Mail\r\nMessage-ID: <dsn-{uuid.uuid4()}@mx.example.org>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        'boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n'
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org"
        f"\r\n\r\nFinal-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {notice_id}\r\n"
        "\r\n--b--\r\n"
    ).encode()


def test_a_late_bounce_counts_on_the_contact_once_and_a_delay_does_not(
    endpoint: Endpoint,
) -> None:
    case_id, customer = endpoint.case()
    with endpoint.db.session() as session:
        add_customer(session, customer, name="Bounce Shop", owner="li.na@example.com")
        contact = session.exec(
            select(CrmContact).where(col(CrmContact.customer_id) == customer)
        ).first()
    assert contact is not None and contact.bounce_count == 0
    endpoint.notice_sent(case_id, NOTICE_ID)
    now = datetime.now(UTC)
    bounce = _delivery_report(NOTICE_ID, contact.email, "5.1.1")
    first = endpoint.inbound.receive(bounce, [f"bounces@{DOMAIN}"], now)
    again = endpoint.inbound.receive(bounce, [f"bounces@{DOMAIN}"], now)
    delay = _delivery_report(NOTICE_ID, contact.email, "4.4.7")
    delayed = endpoint.inbound.receive(delay, [f"bounces@{DOMAIN}"], now)
    assert (first.outcome, first.kind) == (InboundOutcome.ACCEPTED, InboundKind.BOUNCE)
    assert again.outcome is InboundOutcome.DUPLICATE
    assert (delayed.outcome, delayed.kind) == (InboundOutcome.ACCEPTED, InboundKind.DELAYED)
    with endpoint.db.session() as session:
        found = session.get(CrmContact, contact.id)
    assert found is not None and found.bounce_count == 1
    assert sorted(m.kind for m in endpoint.kept(case_id)) == ["bounce", "delayed"]


def test_a_kept_bounce_is_never_refused_after(endpoint: Endpoint) -> None:
    """A report's failed address no contact column holds (a NUL: PostgreSQL refused the
    look-up after the message was kept, and the message was answered `failed`, to be kept
    again by every retry): kept once, counted nowhere."""
    case_id, customer = endpoint.case()
    with endpoint.db.session() as session:
        add_customer(session, customer, name="Bounce Shop", owner="li.na@example.com")
    endpoint.notice_sent(case_id, NOTICE_ID)
    bounce = _delivery_report(NOTICE_ID, "ana\x00@example.org", "5.1.1")
    now = datetime.now(UTC)
    first = endpoint.inbound.receive(bounce, [f"bounces@{DOMAIN}"], now)
    again = endpoint.inbound.receive(bounce, [f"bounces@{DOMAIN}"], now)
    assert (first.outcome, again.outcome) == (InboundOutcome.ACCEPTED, InboundOutcome.DUPLICATE)
    [kept] = endpoint.kept(case_id)
    assert kept.kind == "bounce"
    with endpoint.db.session() as session:
        counts = session.exec(
            select(CrmContact.bounce_count).where(col(CrmContact.customer_id) == customer)
        ).all()
    assert counts and set(counts) == {0}


async def test_lmtp_answers_each_recipient(endpoint: Endpoint) -> None:
    """A local MTA delivering over LMTP (RFC 2033): LHLO, and one reply per recipient."""
    case_id, _customer = endpoint.case()
    address = endpoint.inbound.replies.address_for(case_id)
    port = free_port()
    controller = start_inbound(endpoint.inbound, "127.0.0.1", port, lmtp=True)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def say(line: str) -> list[str]:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()
            return await _replies(reader)

        assert (await _replies(reader))[0].startswith("220")
        assert (await say("EHLO mta.example.org"))[0].startswith("500")  # LMTP says LHLO
        assert (await say("LHLO mta.example.org"))[-1].startswith("250")
        assert (await say("MAIL FROM:<ana@example.org>"))[0].startswith("250")
        assert (await say(f"RCPT TO:<{address}>"))[0].startswith("250")
        assert (await say(f"RCPT TO:<{address.upper()}>"))[0].startswith("250")
        assert (await say("DATA"))[0].startswith("354")
        body = _reply("Keep it, please.").as_bytes().replace(b"\n", b"\r\n")
        writer.write(body + b"\r\n.\r\n")
        await writer.drain()
        first = await _replies(reader)
        second = first[1:] or await _replies(reader)
        assert first[0].startswith("250 2.0.0") and second[0].startswith("250 2.0.0")
        writer.close()
    finally:
        controller.stop()
    assert len(endpoint.kept(case_id)) == 1


async def _replies(reader: asyncio.StreamReader) -> list[str]:
    """One reply, every line of it (a multi-line reply ends with a line "NNN ")."""
    lines: list[str] = []
    while True:
        line = (await asyncio.wait_for(reader.readline(), 10)).decode().rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return lines
