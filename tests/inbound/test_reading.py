"""Reading what comes back: replies with their history cut off, auto-replies, delivery
reports, HTML-only mail and attachments; and the per-case reply addresses."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

import pytest
from pydantic import ValidationError

from closeout.inbound.address import PREFIX, ForgedReplyAddress, ReplyAddresses
from closeout.inbound.reading import (
    MAX_REFERENCES,
    InboundKind,
    html_to_text,
    read_mail,
    written_part,
)
from closeout.settings import Settings

SECRET = "k" * 20 + "Zq8-x_2Lr0pT9vWm4NcYb1HsJd"
NOTICE_ID = "<notice-1@closeout.example.com>"


def _reply(body: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ana Customer <ana@example.org>"
    msg["To"] = "reply+x@replies.example.com"
    msg["Subject"] = headers.pop("Subject", "Re: your account")
    msg["Message-ID"] = "<r1@example.org>"
    msg["In-Reply-To"] = NOTICE_ID
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


@pytest.mark.parametrize(
    ("body", "written"),
    [
        ("Please keep my account, I was on leave.\n", "Please keep my account, I was on leave."),
        (
            "Keep it please.\n\nOn Mon, 30 Nov 2026 at 10:00, Closeout <c@example.com> wrote:\n"
            "> We will close your account\n",
            "Keep it please.",
        ),
        ("Delete everything now.\n-- \nAna\nCEO, Ana GmbH\n", "Delete everything now."),
        (
            "Ja, bitte behalten.\n\nAm 30.11.2026 um 10:00 schrieb Closeout:\n> Text\n",
            "Ja, bitte behalten.",
        ),
        (
            "请不要关闭我的账户。\n\n在 2026年11月30日 10:00，Closeout 写道：\n> 原文\n",  # noqa: RUF001
            "请不要关闭我的账户。",
        ),
        ("OK\n\n-----Original Message-----\nFrom: Closeout\nSent: Monday\n", "OK"),
        ("> quoted only\nmine\n> more quoted\n", "mine"),
        ("\n\n  \n", ""),
    ],
)
def test_the_written_part_leaves_the_history_and_signature_out(body: str, written: str) -> None:
    assert written_part(body) == written
    mail = read_mail(_reply(body))
    assert mail.kind is InboundKind.REPLY and mail.text == written
    assert mail.answers == (NOTICE_ID,) and mail.sender == "Ana Customer <ana@example.org>"


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Auto_Submitted": "auto-generated"},
        {"X_Autoreply": "yes"},
        {"Precedence": "auto_reply"},
        {"Subject": "Out of Office: Re: your account"},
        {"Subject": "Automatic reply: your account"},
        {"Subject": "自动回复: 您的账户"},
    ],
)
def test_auto_replies_are_known_as_such(headers: dict[str, str]) -> None:
    assert read_mail(_reply("I am away until Monday.", **headers)).kind is InboundKind.AUTO_REPLY


def test_auto_submitted_no_is_a_person() -> None:
    assert read_mail(_reply("Keep it", Auto_Submitted="no")).kind is InboundKind.REPLY


def _report(status: str, action: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\r\n"
        "To: bounces@closeout.example.com\r\n"
        "Subject: Delivery Status Notification\r\n"
        "Message-ID: <dsn-1@mx.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; ana@example.org\r\nAction: {action}\r\nStatus: {status}\r\n"
        "\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: closeout@example.com\r\nMessage-ID: {NOTICE_ID}\r\nSubject: Notice\r\n"
        "\r\n--b--\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("status", "action", "kind"),
    [
        ("5.1.1", "failed", InboundKind.BOUNCE),
        ("5.2.2", "failed", InboundKind.BOUNCE),
        ("4.4.7", "delayed", InboundKind.DELAYED),
    ],
)
def test_delivery_reports_name_the_notice_and_their_status(
    status: str, action: str, kind: InboundKind
) -> None:
    mail = read_mail(_report(status, action))
    assert (mail.kind, mail.status, mail.answers, mail.text) == (kind, status, (NOTICE_ID,), "")
    assert mail.failed_recipient == "ana@example.org"


def test_html_only_mail_is_reduced_to_its_text() -> None:
    msg = EmailMessage()
    msg["From"] = "ana@example.org"
    msg["Subject"] = "Re: notice"
    msg.set_content(
        "<html><head><style>p{}</style><script>alert(1)</script></head><body>"
        "<p>Keep <b>my</b> account</p><img src=x onerror=alert(1)>"
        "<blockquote>On Monday Closeout wrote: we close it</blockquote></body></html>",
        subtype="html",
    )
    mail = read_mail(msg.as_bytes())
    assert mail.text == "Keep my account"
    assert html_to_text("<p>a &lt;b&gt; c</p>").strip() == "a <b> c"  # text, never markup


def test_attachments_are_listed_with_their_bytes() -> None:
    msg = EmailMessage()
    msg["From"] = "ana@example.org"
    msg["Subject"] = "Re: notice"
    msg.set_content("See the letter attached.")
    msg.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf",
                       filename="letter.pdf")  # fmt: skip
    mail = read_mail(msg.as_bytes())
    assert mail.text == "See the letter attached."
    [attachment] = mail.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "letter.pdf", "application/pdf", 12
    )  # fmt: skip


# Raw, as a sending server may deliver them: a control character in a header, whether written
# as it is or smuggled in through an encoded word.
ODD_IDS = (
    b"From: ana@example.org\r\nSubject: Re: notice\r\n"
    b"Message-ID: <r1\x00@example.org>\r\n"
    b"In-Reply-To: =?utf-8?q?<n=00@closeout>?= <notice-1@closeout.example.com>\r\n"
    b"References: <" + b"x" * 300 + b"@example.org> <n\x07@closeout>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
    b"--B\r\nContent-Type: text/plain\r\n\r\nKeep it.\r\n"
    b"--B\r\nContent-Type: appli\x00cation/pdf\r\n"
    b"Content-Disposition: attachment; filename=letter.pdf\r\n\r\n%PDF\r\n"
    b"--B\r\nContent-Type: image/" + b"x" * 120 + b"\r\n"
    b"Content-Disposition: attachment; filename=big.png\r\n\r\nPNG\r\n--B--\r\n"
)


def test_only_well_formed_ids_and_content_types_are_read() -> None:
    """A database refuses a NUL, and PostgreSQL a Message-ID past its column: what could match
    nothing is no id, and a type no reader could use is `application/octet-stream`."""
    mail = read_mail(ODD_IDS)
    assert mail.message_id is None
    assert mail.answers == (NOTICE_ID,)
    assert mail.text == "Keep it."
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("letter.pdf", "application/octet-stream"),
        ("big.png", "application/octet-stream"),
    ]
    longest = "<" + "x" * 241 + "@example.org>"
    assert len(longest) == 255  # as long as a kept id may be: still an id
    raw = f"From: ana@example.org\r\nMessage-ID: {longest}\r\n\r\nKeep it.\r\n".encode()
    assert read_mail(raw).message_id == longest


def test_only_the_last_references_are_looked_up() -> None:
    """Each id looked up is a parameter of one query: thousands of them failed it on
    PostgreSQL (65,535 at most). The nearest in the thread are the last."""
    references = " ".join(f"<r{i}@example.org>" for i in range(100))
    mail = read_mail(_reply("Keep it.", References=references))
    assert len(mail.answers) == 1 + MAX_REFERENCES
    assert mail.answers[0] == NOTICE_ID and mail.answers[-1] == "<r99@example.org>"


def test_a_reply_address_names_its_case_and_nothing_else() -> None:
    addresses = ReplyAddresses(SECRET, "Replies.Example.com")
    case_id = str(uuid.uuid4())
    address = addresses.address_for(case_id)
    local, _, domain = address.partition("@")
    assert local.startswith(PREFIX) and domain == "replies.example.com" and len(local) <= 64
    assert addresses.case_of(address) == case_id
    assert addresses.case_of(address.upper()) == case_id  # a local part's case changed on the way
    assert addresses.case_in([f"Closeout <{address}>", "other@example.com"]) == case_id
    assert addresses.case_of("privacy@replies.example.com") is None
    assert addresses.case_of(address.replace("replies.example.com", "elsewhere.example")) is None
    other = str(uuid.uuid4())
    token = address[len(PREFIX) :].split("@")[0]
    forged = address.replace(token.split(".")[0], ReplyAddresses(SECRET, "x").address_for(other)
                             [len(PREFIX):].split(".")[0])  # fmt: skip
    with pytest.raises(ForgedReplyAddress):
        addresses.case_of(forged)  # another case's id under this case's MAC
    with pytest.raises(ForgedReplyAddress):
        addresses.case_of(f"{PREFIX}not-base32!.zz@replies.example.com")
    with pytest.raises(ForgedReplyAddress):
        ReplyAddresses("another secret key, as long as it must be 1234", "replies.example.com"
                       ).case_of(address)  # fmt: skip
    with pytest.raises(ForgedReplyAddress):
        addresses.case_in([f"{PREFIX}aaaa.bbbb@replies.example.com"])


@pytest.mark.parametrize("domain", ["replies", "bad domain.com", "-x.example.com", "a@b.com"])
def test_the_inbound_domain_must_be_a_domain_name(domain: str) -> None:
    with pytest.raises(ValidationError, match="inbound_domain"):
        Settings(dev_mode=True, database_url="sqlite://", inbound_domain=domain)
    assert Settings(dev_mode=True, database_url="sqlite://", inbound_domain="r.example.com")
