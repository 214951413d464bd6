"""Replies from an IMAP mailbox, for hosts whose mail can only land in one: each unread message
is given its outcome as if it had come over SMTP (closeout/inbound/receiving.py), then a kept
one is deleted from the mailbox (its words live sealed in Closeout, erasable with the customer,
not in a mailbox beside it) and a refused one is left there, marked read, for a person to look
at (one the parser cannot read, `unreadable`, too); one that could not be kept this time
(`failed`) is left unread and tried again by every pass until it is kept, each time logged by
its number in the mailbox; the messages after either are read all the same. A message over the
size limit is refused by its size, never downloaded.

The mailbox is named by a URL: `imaps://user@host[:993]/Mailbox` (TLS from the start) or
`imap://user@host[:143]/Mailbox` (STARTTLS, required unless the server is on loopback); the
password comes from its own setting, never the URL.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import logging
import re
import ssl
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

from closeout.inbound.receiving import Inbound, InboundOutcome, Received

KEPT = (InboundOutcome.ACCEPTED, InboundOutcome.DUPLICATE)
log = logging.getLogger(__name__)
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class ImapError(Exception):
    """The mailbox cannot be read: the message says why (address, TLS, sign-in, mailbox)."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ImapMailbox:
    host: str
    port: int
    user: str
    mailbox: str
    implicit_tls: bool

    @classmethod
    def parse(cls, url: str) -> ImapMailbox:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps"):
            raise ImapError(f"an IMAP mailbox is imaps://user@host/Mailbox, not {parts.scheme}://")
        if not parts.hostname or not parts.username:
            raise ImapError("an IMAP mailbox URL names its user and host: imaps://user@host/INBOX")
        if parts.password is not None:
            raise ImapError("keep the password out of the URL: CLOSEOUT_INBOUND_IMAP_PASSWORD")
        implicit = parts.scheme == "imaps"
        try:
            port = parts.port or (993 if implicit else 143)
        except ValueError as exc:
            raise ImapError(f"bad port in the IMAP URL: {exc}") from exc
        mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
        user = unquote(parts.username)
        for name, value in (("user", user), ("mailbox", mailbox)):
            if not value.isascii() or not value.isprintable():
                raise ImapError(f"the IMAP {name} must be printable ASCII")
        return cls(parts.hostname, port, user, mailbox, implicit)

    def described(self) -> str:
        scheme = "imaps" if self.implicit_tls else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.mailbox}"


def _connect(box: ImapMailbox, timeout: float) -> imaplib.IMAP4:
    context = ssl.create_default_context()
    try:
        if box.implicit_tls:
            return imaplib.IMAP4_SSL(box.host, box.port, ssl_context=context, timeout=timeout)
        imap = imaplib.IMAP4(box.host, box.port, timeout=timeout)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(f"cannot reach {box.described()}: {exc}") from exc
    if "STARTTLS" in imap.capabilities:
        try:
            imap.starttls(ssl_context=context)
        except (OSError, imaplib.IMAP4.error) as exc:
            imap.shutdown()
            raise ImapError(f"{box.described()}: STARTTLS failed: {exc}") from exc
    elif not _loopback(box.host):
        imap.shutdown()
        raise ImapError(
            f"{box.described()} offers no STARTTLS: the password would travel in clear "
            "(use imaps://)"
        )
    return imap


def _size(imap: imaplib.IMAP4, uid: str) -> int | None:
    """The message's size as the server says it; None when it does not."""
    _typ, data = imap.uid("FETCH", uid, "(RFC822.SIZE)")
    found = _SIZE.search(data[0] if isinstance(data[0], bytes) else b"")
    return int(found.group(1)) if found else None


def _body(imap: imaplib.IMAP4, uid: str) -> bytes:
    _typ, data = imap.uid("FETCH", uid, "(BODY.PEEK[])")
    for item in data:
        if isinstance(item, tuple):
            return bytes(item[1])
    raise ImapError(f"message {uid} has no body")


def fetch_replies(
    box: ImapMailbox, password: str, inbound: Inbound, now: datetime, timeout: float = 30
) -> list[Received]:
    """Every unread message of the mailbox given its outcome, once; what became of each."""
    imap = _connect(box, timeout)
    try:
        try:
            imap.login(_quoted(box.user), password)
        except imaplib.IMAP4.error as exc:
            raise ImapError(f"{box.described()} refused the sign-in: {exc}") from exc
        typ, _data = imap.select(_quoted(box.mailbox))
        if typ != "OK":
            raise ImapError(f"{box.described()}: no such mailbox")
        return _fetch_unseen(imap, inbound, now)
    except (imaplib.IMAP4.abort, OSError) as exc:
        raise ImapError(f"{box.described()}: the connection broke off: {exc}") from exc
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):  # already gone
            imap.logout()


def _fetch_unseen(imap: imaplib.IMAP4, inbound: Inbound, now: datetime) -> list[Received]:
    _typ, found = imap.uid("SEARCH", None, "UNSEEN")  # type: ignore[arg-type]
    outcomes: list[Received] = []
    kept: list[str] = []
    for uid in (found[0] or b"").decode().split():
        size = _size(imap, uid)
        if size is None or size > inbound.max_bytes:
            received = Received(InboundOutcome.OVERSIZED)  # fails closed: never downloaded
        else:
            # Addressed as its own headers say; the outcome is there whatever the message holds.
            received = inbound.receive(_body(imap, uid), None, now)
        if received.outcome in (InboundOutcome.FAILED, InboundOutcome.UNREADABLE):
            # By its number in the mailbox, for a person to find: nothing of what it says.
            log.warning("message %s of the mailbox: %s", uid, received.outcome)
        if received.outcome is InboundOutcome.FAILED:
            outcomes.append(received)  # left unread: the next pass tries it again
            continue
        flags = r"(\Seen \Deleted)" if received.outcome in KEPT else r"(\Seen)"
        imap.uid("STORE", uid, "+FLAGS", flags)
        if received.outcome in KEPT:
            kept.append(uid)
        outcomes.append(received)
    if kept:
        # Only the messages kept here: what another client marked deleted stays its business.
        _typ, said = imap.capability()
        if b"UIDPLUS" in (said[0] or b"").upper().split():
            imap.uid("EXPUNGE", ",".join(kept))
        else:
            imap.expunge()
    imap.close()
    return outcomes


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
