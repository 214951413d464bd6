"""Outgoing mail: the mailer port, its SMTP adapter, and notice rendering."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.errors import MessageError
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any, Protocol, cast

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from closeout.i18n import DEFAULT_LOCALE, translations
from closeout.settings import Settings, SmtpSecurity

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


# Mail errors name SMTP codes, never addresses: servers echo the recipient in their replies,
# and these messages travel into logs and workflow histories. Hence `from None` too.


class PermanentMailError(Exception):
    """The server refused the message for good (5xx): retrying cannot help."""


class TemporaryMailError(Exception):
    """The send failed for now (4xx, connection, TLS): the activity retries it."""


class MalformedMailError(Exception):
    """A header cannot be written (a line break in a name, say); retried once the data is fixed.

    The message names the mail's id and the header, never its value: a subject can carry the
    customer's name, and the email package quotes the whole value in its own errors.
    """


# Headers filled from data: a line break in one would start a header of its own.
_FILLED_HEADERS = ("From", "To", "Subject", "Reply-To")


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


def _part(body: str, subtype: str) -> MIMEText:
    """ASCII as it is (7bit); anything else in UTF-8, quoted-printable: the raw message stays
    readable where the text is, and every line stays within SMTP's limit."""
    if body.isascii() and all(len(line) <= 998 for line in body.splitlines()):
        return MIMEText(body, subtype, "us-ascii")
    return MIMEText(body, subtype, _UTF8_QP)  # type: ignore[arg-type]


def _text(value: str) -> str:
    """A free-text header; outside ASCII as RFC 2047 encoded words, folded when written."""
    # The classic generator encodes a Header object itself; typeshed only admits str here.
    return value if value.isascii() else cast(str, Header(value, "utf-8"))


def _address(value: str) -> str:
    """An address header; a display name outside ASCII is encoded, the address never is."""
    if value.isascii():
        return value
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8")


@dataclass(frozen=True)
class OutgoingMail:
    message_id: str
    to: str
    subject: str
    text: str
    html: str
    # Where the customer's reply goes: the case's own reply address, when replies are on.
    reply_to: str | None = None


class Mailer(Protocol):
    async def send(self, mail: OutgoingMail) -> None: ...


class SmtpMailer:
    """Sends through a real SMTP server with aiosmtplib."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def build(self, mail: OutgoingMail) -> Message:
        """Text and HTML alternatives in UTF-8; non-ASCII headers encoded (RFC 2047).

        Built with the classic MIME classes: the header-parsing policy of `EmailMessage`
        costs three times as much for the same message.
        """
        values = {
            "From": self.settings.mail_from,
            "To": mail.to,
            "Subject": mail.subject,
            "Reply-To": mail.reply_to or "",
        }
        for name in _FILLED_HEADERS:
            if "\n" in values[name] or "\r" in values[name]:
                raise MalformedMailError(
                    f"mail {mail.message_id}: the {name} header holds a line break"
                )
        msg = MIMEMultipart("alternative")
        msg["From"] = _address(self.settings.mail_from)
        msg["To"] = _address(mail.to)
        msg["Subject"] = _text(mail.subject)
        msg["Message-ID"] = mail.message_id
        if mail.reply_to:
            msg["Reply-To"] = mail.reply_to
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg.attach(_part(mail.text, "plain"))
        msg.attach(_part(mail.html, "html"))
        return msg

    async def send(self, mail: OutgoingMail) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                self.build(mail),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                use_tls=s.smtp_security is SmtpSecurity.TLS,
                start_tls=s.smtp_security is SmtpSecurity.STARTTLS,
                cert_bundle=str(s.smtp_ca_file) if s.smtp_ca_file else None,
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # Only the recipient's own refusal says the contact is bad; any other 5xx (TLS
            # required, authentication, sender) is ours to fix, so the send is retried.
            codes = ", ".join(sorted({str(r.code) for r in exc.recipients}))
            if all(500 <= r.code < 600 for r in exc.recipients):
                raise PermanentMailError(f"recipient refused permanently (SMTP {codes})") from None
            raise TemporaryMailError(f"recipient refused for now (SMTP {codes})") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise TemporaryMailError(f"the SMTP server answered {exc.code}") from None
        except aiosmtplib.SMTPException as exc:
            raise TemporaryMailError(f"SMTP failed: {type(exc).__name__}") from None
        except (MessageError, ValueError, UnicodeError) as exc:
            # Raised while the message is written out; these quote the offending value.
            raise MalformedMailError(
                f"mail {mail.message_id} cannot be written ({type(exc).__name__})"
            ) from None


class NoticeRenderer:
    """Renders a notice's subject, text and HTML parts from templates/mail/."""

    def __init__(self, settings: Settings, templates_dir: Path = TEMPLATES_DIR) -> None:
        self.settings = settings
        self.templates_dir = templates_dir
        self._envs: dict[str, Environment] = {}

    def env(self, catalog: str) -> Environment:
        """One template environment per catalog, its gettext installed once."""
        if catalog not in self._envs:
            env = Environment(
                loader=FileSystemLoader(self.templates_dir),
                autoescape=select_autoescape(["html"]),
                undefined=StrictUndefined,
                extensions=["jinja2.ext.i18n"],
            )
            env.install_gettext_translations(translations(catalog), newstyle=True)  # type: ignore[attr-defined]
            self._envs[catalog] = env
        return self._envs[catalog]

    def render(
        self, kind: str, catalog: str = DEFAULT_LOCALE, **context: Any
    ) -> tuple[str, str, str]:
        context.setdefault("company", self.settings.company_name)
        context.setdefault("company_contact", self.settings.company_contact)
        context.setdefault("lang", catalog.replace("_", "-"))
        env = self.env(catalog)
        subject = env.get_template(f"mail/{kind}.subject.txt").render(**context).strip()
        text = env.get_template(f"mail/{kind}.txt").render(**context)
        html = env.get_template(f"mail/{kind}.html").render(**context)
        return subject, text, html
