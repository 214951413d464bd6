"""Reading a message that came back: what it is (a person's reply, an auto-reply, a delivery
report), what it answers (In-Reply-To, References, the reported message), the words the person
wrote (quoted history and signature cut off), and its attachments (listed and kept, never
opened or rendered).

Nothing here decides anything about a case, and nothing from outside is ever rendered as
HTML: an HTML-only message is reduced to its text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from enum import StrEnum
from html.parser import HTMLParser
from typing import cast


class InboundKind(StrEnum):
    REPLY = "reply"
    # RFC 3834 and its unofficial cousins: vacation notices, "out of office".
    AUTO_REPLY = "auto_reply"
    # RFC 3464 delivery status notifications: failed for good (5.x.x) or delayed (4.x.x).
    BOUNCE = "bounce"
    DELAYED = "delayed"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class InboundMail:
    kind: InboundKind
    message_id: str | None
    sender: str
    subject: str
    # What it answers: its own threading headers, or, for a delivery report, the reported one's.
    answers: tuple[str, ...]
    # The words written, without the quoted history or the signature.
    text: str
    attachments: tuple[Attachment, ...] = field(default=())
    # A delivery report's status (RFC 3463: "5.1.1") and the address it failed for.
    status: str | None = None
    failed_recipient: str | None = None


_AUTO_SUBJECTS = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesenheit"
    r"|absence|vacation|on leave|autoreply|réponse automatique|自动回复|自動回覆|不在办公室)",
    re.IGNORECASE,
)
_AUTO_PRECEDENCE = {"auto_reply", "bulk", "junk", "list"}
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Where a Message-ID is kept (closeout/inbound/models.py); a longer one is no id of ours to match.
MAX_MESSAGE_ID = 255
# Of a References header, the ids looked up: the last ones, the nearest in the thread (a hostile
# list of thousands would each become a parameter of the look-up).
MAX_REFERENCES = 20
# An address a delivery report says failed, as a contact's address may be stored.
MAX_ADDRESS = 254
# A content type as RFC 2045 writes it: type "/" subtype, both tokens.
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
MAX_CONTENT_TYPE = 100
UNKNOWN_CONTENT_TYPE = "application/octet-stream"
_STATUS = re.compile(r"^\s*status\s*:\s*([245]\.[0-9]{1,3}\.[0-9]{1,3})",
                     re.IGNORECASE | re.MULTILINE)  # fmt: skip
_RECIPIENT = re.compile(r"^\s*final-recipient\s*:\s*rfc822\s*;\s*(\S+@\S+)\s*$",
                        re.IGNORECASE | re.MULTILINE)  # fmt: skip

# Where the quoted history starts: an attribution line, an Outlook or Gmail separator, a
# header block of the message answered.
_HISTORY_STARTS = [
    re.compile(r"^\s*On .{0,300}wrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Am .{0,300}schrieb .{0,200}:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Le .{0,300}a écrit\s*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*在.{0,300}写道\s*[:\uff1a]\s*$"),
    re.compile(
        r"^\s*-{2,}\s*(Original Message|Ursprüngliche Nachricht|原始邮件)\s*-{2,}\s*$",
        re.IGNORECASE,
    ),
    re.compile(r"^\s*_{10,}\s*$"),
    re.compile(r"^\s*(From|Von|发件人)\s*[:\uff1a].+$", re.IGNORECASE),
]
_SIGNATURE = re.compile(r"^-- ?$")


def _ids(value: str | None) -> tuple[str, ...]:
    """The message ids a header names. Anything else between angle brackets (a control
    character, which an encoded word can smuggle in, or more than a stored id holds) is no id:
    it could match nothing, and a database may refuse to store or even look for it."""
    return tuple(
        found
        for found in _MESSAGE_ID.findall(value or "")
        if len(found) <= MAX_MESSAGE_ID and found.isprintable()
    )


def _address(named: str) -> str | None:
    """A delivery report's failed address, if it is one an address column could hold."""
    address = named.strip("<>")
    well_formed = address.count("@") == 1 and address.isprintable()
    return address if well_formed and len(address) <= MAX_ADDRESS else None


def _content_type(part: Message) -> str:
    """The part's content type, or `application/octet-stream` when it names none a reader
    could use (a control character, an overlong name)."""
    named = part.get_content_type()
    if len(named) <= MAX_CONTENT_TYPE and _CONTENT_TYPE.fullmatch(named):
        return named
    return UNKNOWN_CONTENT_TYPE


class _TextOnly(HTMLParser):
    """The text of an HTML part: tags, scripts and styles dropped, blocks as lines."""

    _SKIP = {"script", "style", "head", "title"}
    _BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.quoted = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        if tag == "blockquote":  # the history answered, as mail programs quote it in HTML
            self.quoted += 1
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        if tag == "blockquote" and self.quoted:
            self.quoted -= 1
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping and not self.quoted:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return "\n".join(lines)


def written_part(text: str) -> str:
    """What the sender wrote: up to the quoted history or the signature, without quoted
    lines; blank lines at either end dropped."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _SIGNATURE.match(line) or any(p.match(line) for p in _HISTORY_STARTS):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip("\n").strip()


def _is_auto_reply(msg: Message) -> bool:
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return True
    if any(msg.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")):
        return True
    if (msg.get("Precedence") or "").strip().lower() in _AUTO_PRECEDENCE:
        return True
    return bool(_AUTO_SUBJECTS.match(str(msg.get("Subject") or "")))


def _body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset, a broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if part.get_content_type() == "text/html":
        return html_to_text(content)
    return str(content)


def _attachments(msg: EmailMessage) -> tuple[Attachment, ...]:
    found = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            name = part.get_filename() or "attachment"
            found.append(Attachment(name, _content_type(part), payload))
    return tuple(found)


@dataclass(frozen=True)
class _Report:
    kind: InboundKind
    status: str | None
    reported: tuple[str, ...]
    recipient: str | None


def _report(msg: EmailMessage) -> _Report | None:
    """A delivery status notification's kind, status, the reported message's id and the
    address delivery failed for."""
    if msg.get_content_type() != "multipart/report":
        return None
    if (msg.get_param("report-type") or "").lower() != "delivery-status":  # type: ignore[union-attr]
        return None
    status: str | None = None
    recipient: str | None = None
    reported: tuple[str, ...] = ()
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            # Its body is a list of header blocks; the first per-recipient status counts.
            text = "".join(str(p) for p in cast(list[Message], part.get_payload()))
            found = _STATUS.search(text)
            status = status or (found.group(1) if found else None)
            named = _RECIPIENT.search(text)
            recipient = recipient or (_address(named.group(1)) if named else None)
        elif kind in ("message/rfc822", "text/rfc822-headers"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                reported = _ids(str(inner[0].get("Message-ID") or ""))[:MAX_REFERENCES]
            elif isinstance(inner, str):
                reported = _ids(message_from_bytes(inner.encode(), policy=policy.default).get(
                    "Message-ID"
                ))[:MAX_REFERENCES]  # fmt: skip
    failed = status is None or status.startswith("5")
    kind = InboundKind.BOUNCE if failed else InboundKind.DELAYED
    return _Report(kind, status, reported, recipient)


def read_mail(raw: bytes) -> InboundMail:
    """What a message that came back is and says."""
    msg = message_from_bytes(raw, policy=policy.default)
    sender = str(msg.get("From") or "")
    subject = str(msg.get("Subject") or "")
    message_id = next(iter(_ids(str(msg.get("Message-ID") or ""))), None)
    report = _report(msg)
    if report is not None:
        return InboundMail(
            report.kind, message_id, sender, subject, report.reported, "", (), report.status,
            report.recipient,
        )  # fmt: skip
    references = _ids(str(msg.get("References") or ""))[-MAX_REFERENCES:]
    answers = _ids(str(msg.get("In-Reply-To") or "")) + references
    kind = InboundKind.AUTO_REPLY if _is_auto_reply(msg) else InboundKind.REPLY
    text = written_part(_body_text(msg))
    return InboundMail(kind, message_id, sender, subject, answers, text, _attachments(msg))


def header_recipients(raw: bytes) -> list[str]:
    """Where a message was addressed, by its headers: for a message that comes without its
    envelope (a file, a mailbox)."""
    msg = message_from_bytes(raw, policy=policy.default)
    found: list[str] = []
    for name in ("Delivered-To", "X-Original-To", "To", "Cc"):
        found += [str(v) for v in msg.get_all(name) or []]
    return found
