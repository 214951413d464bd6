"""Per-case reply addresses: `reply+<token>@<inbound domain>`, the token bound to the case.

The token is the case id and a MAC of it, both in lower-case base32: mail systems may change
the case of a local part, and the whole address stays within the 64 characters RFC 5321 allows
it. The MAC's key is derived from the secret key for this purpose alone, so a reply address
cannot be made for a case by anyone without it, and rotating the secret key makes the
addresses already out forged (as it does the links).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from email.utils import getaddresses

from closeout.crypto.purpose_keys import KeyPurpose, secret_key_for

PREFIX = "reply+"
MAC_BYTES = 10


class ForgedReplyAddress(Exception):
    """An address of the reply form whose token is not one Closeout made."""


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)


class ReplyAddresses:
    def __init__(self, secret_key: str, domain: str) -> None:
        self._key = secret_key_for(secret_key, KeyPurpose.REPLIES)
        self.domain = domain.strip().lower()

    def _mac(self, case: uuid.UUID) -> bytes:
        return hmac.new(self._key, b"reply/" + case.bytes, hashlib.sha256).digest()[:MAC_BYTES]

    def address_for(self, case_id: str) -> str:
        """The address a customer's reply about this case is sent to."""
        case = uuid.UUID(case_id)
        return f"{PREFIX}{_b32(case.bytes)}.{_b32(self._mac(case))}@{self.domain}"

    def case_of(self, address: str) -> str | None:
        """The case a reply address stands for; None for an address not of the reply form at
        the inbound domain; ForgedReplyAddress for one of that form Closeout did not make."""
        local, _, domain = address.strip().strip("<>").rpartition("@")
        if domain.lower() != self.domain or not local.lower().startswith(PREFIX):
            return None
        token = local[len(PREFIX) :].lower()
        case_part, _, mac_part = token.partition(".")
        try:
            case = uuid.UUID(bytes=_unb32(case_part))
            mac = _unb32(mac_part)
        except ValueError:
            raise ForgedReplyAddress("the reply address's token cannot be read") from None
        if not hmac.compare_digest(mac, self._mac(case)):
            raise ForgedReplyAddress("the reply address's token was not made for its case")
        return str(case)

    def case_in(self, recipients: list[str]) -> str | None:
        """The case the first reply address among `recipients` (envelope or header addresses)
        stands for; None when there is none; ForgedReplyAddress when the only ones are forged."""
        forged: ForgedReplyAddress | None = None
        for _name, address in getaddresses(recipients):
            try:
                found = self.case_of(address)
            except ForgedReplyAddress as exc:
                forged = exc
                continue
            if found is not None:
                return found
        if forged is not None:
            raise forged
        return None
