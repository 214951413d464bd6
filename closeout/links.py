"""Signed links in notices: bound to a case, an action and an expiry, each usable once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from itsdangerous import BadSignature, URLSafeSerializer

from closeout.crypto.purpose_keys import KeyPurpose, secret_key_for
from closeout.domain import CustomerResponse
from closeout.i18n import N_

FORGED_REASON = N_("This link is not valid. Please use the link from our e-mail.")


class LinkRefused(Exception):
    """A link that cannot be honoured; `reason` says why in words a customer understands."""

    def __init__(self, kind: str, reason: str, link: CustomerLink | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.link = link


class LinkProblem(StrEnum):
    FORGED = "forged"
    EXPIRED = "expired"


@dataclass(frozen=True)
class CustomerLink:
    link_id: str
    case_id: str
    action: CustomerResponse
    expires_at: datetime


class LinkKind(StrEnum):
    """Answer links (stay, object, confirm) and export links are signed apart."""

    ANSWER = "answer"
    EXPORT = "export"
    # The public request form's confirmation link, mailed to the address given: its
    # `case_id` holds the customer it is for (no case exists yet).
    REQUEST = "request"

    @property
    def salt(self) -> str:
        return f"closeout.{self}-link.v2"

    @property
    def key_purpose(self) -> KeyPurpose:
        return KeyPurpose.EXPORTS if self is LinkKind.EXPORT else KeyPurpose.LINKS


class LinkSigner:
    """Signs and checks links with HMAC-SHA256 (itsdangerous, digest_method=sha256).

    Each kind of link has its own key (HKDF from the secret key) and its own salt, so an
    export link is no answer link and the other way round; rotating the secret key makes
    every link already sent forged.
    """

    def __init__(self, secret_key: str) -> None:
        self._serializers = {
            kind: URLSafeSerializer(
                secret_key_for(secret_key, kind.key_purpose),
                salt=kind.salt,
                signer_kwargs={"digest_method": hashlib.sha256},
            )
            for kind in LinkKind
        }

    def sign(self, link: CustomerLink, kind: LinkKind = LinkKind.ANSWER) -> str:
        return self._serializers[kind].dumps(
            [link.link_id, link.case_id, str(link.action), int(link.expires_at.timestamp())]
        )

    def verify(
        self, token: str, now: datetime | None = None, kind: LinkKind = LinkKind.ANSWER
    ) -> CustomerLink:
        """The link a token stands for; LinkRefused when forged, tampered with, expired or
        signed as another kind of link."""
        try:
            link_id, case_id, action, expires = self._serializers[kind].loads(token)
            link = CustomerLink(
                str(link_id),
                str(case_id),
                CustomerResponse(action),
                datetime.fromtimestamp(expires, UTC),
            )
        except (BadSignature, ValueError, TypeError) as exc:
            raise LinkRefused(LinkProblem.FORGED, FORGED_REASON) from exc
        if (now or datetime.now(UTC)) >= link.expires_at:
            raise LinkRefused(
                LinkProblem.EXPIRED,
                N_("This link has expired. Please contact us if you still want to answer."),
                link,
            )
        return link
