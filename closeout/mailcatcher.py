"""The dev-mode mail catcher: an SMTP server on loopback that keeps messages as .eml files."""

from __future__ import annotations

import email
import email.policy
import email.utils
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MailCatcherHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.directory / (name + ".partial")
        tmp.write_bytes(envelope.content)
        tmp.rename(self.directory / name)
        return "250 Message accepted for delivery"


def start_mail_catcher(directory: Path, host: str, port: int) -> Controller:
    controller = Controller(MailCatcherHandler(directory), hostname=host, port=port)
    controller.start()
    return controller


@dataclass(frozen=True)
class CaughtMail:
    id: str
    sender: str
    to: str
    subject: str
    date: str
    message_id: str
    text: str
    html: str | None
    reply_to: str = ""
    in_reply_to: str = ""


def _read(path: Path) -> CaughtMail:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    return CaughtMail(
        id=path.stem,
        sender=str(msg["From"] or ""),
        to=str(msg["To"] or ""),
        subject=str(msg["Subject"] or ""),
        date=str(msg["Date"] or ""),
        message_id=str(msg["Message-ID"] or ""),
        text=text_part.get_content() if text_part else "",
        html=html_part.get_content() if html_part else None,
        reply_to=str(msg["Reply-To"] or ""),
        in_reply_to=str(msg["In-Reply-To"] or ""),
    )


def reply_to_caught(mail: CaughtMail, text: str) -> EmailMessage:
    """What the customer would send by pressing "reply" on a caught notice: to its Reply-To,
    threaded on its Message-ID, the notice quoted below the answer."""
    reply = EmailMessage()
    reply["From"] = mail.to
    reply["To"] = mail.reply_to
    subject = mail.subject
    reply["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    reply["Message-ID"] = email.utils.make_msgid(domain="customer.localhost")
    reply["Date"] = email.utils.formatdate(localtime=False)
    if mail.message_id:
        reply["In-Reply-To"] = reply["References"] = mail.message_id
    quoted = "\n".join(f"> {line}" for line in mail.text.splitlines())
    reply.set_content(f"{text}\n\nOn {mail.date}, {mail.sender} wrote:\n{quoted}\n")
    return reply


def list_caught(directory: Path) -> list[CaughtMail]:
    """Every caught message, newest first."""
    if not directory.exists():
        return []
    return [_read(p) for p in sorted(directory.glob("*.eml"), reverse=True)]


def get_caught(directory: Path, mail_id: str) -> CaughtMail | None:
    path = directory / f"{mail_id}.eml"
    if "/" in mail_id or not path.exists():
        return None
    return _read(path)
