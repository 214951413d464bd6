"""Signed links in notices: bound to a case, an action and an expiry, each usable once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from itsdangerous import BadSignature, URLSafeSerializer

from closeout.domain import CustomerResponse
from closeout.i18n import N_

SALT = "closeout.customer-link.v1"
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


class LinkSigner:
    """Signs and checks links with HMAC-SHA256 under the deployment's secret key."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt=SALT)

    def sign(self, link: CustomerLink) -> str:
        return self._serializer.dumps(
            [link.link_id, link.case_id, str(link.action), int(link.expires_at.timestamp())]
        )

    def verify(self, token: str, now: datetime | None = None) -> CustomerLink:
        """The link a token stands for; LinkRefused when forged, tampered with or expired."""
        try:
            link_id, case_id, action, expires = self._serializer.loads(token)
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
