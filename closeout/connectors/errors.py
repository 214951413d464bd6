"""What a connected system answers when it cannot do what a case asks, as typed errors.

Every adapter turns its system's failures into these, so that the activities treat them the
same whatever the system: an unknown customer is an answer, the rest are retried (a rate
limit after the time the system asked for).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class ConnectorError(Exception):
    """A connected system could not do what was asked."""

    def __init__(self, system: str, message: str) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system


class UnknownCustomer(ConnectorError):
    """The system holds nothing under that customer id."""

    def __init__(self, system: str, customer_id: str) -> None:
        super().__init__(system, f"no customer {customer_id!r}")
        self.customer_id = customer_id


class AmbiguousCustomer(ConnectorError):
    """The system holds several records under that customer id: none is guessed at."""

    def __init__(self, system: str, customer_id: str) -> None:
        super().__init__(system, f"several records hold the customer id {customer_id!r}")
        self.customer_id = customer_id


class CredentialRefused(ConnectorError):
    """The system refused the credential Closeout holds for it (401 or 403)."""


class ConnectorTimeout(ConnectorError):
    """The system did not answer in time."""


class ConnectorUnavailable(ConnectorError):
    """The system could not be reached, or failed (a 5xx)."""


class RateLimited(ConnectorError):
    """The system asked Closeout to slow down (429); `retry_after` seconds, when it said."""

    def __init__(self, system: str, retry_after: float | None) -> None:
        told = f", retry after {retry_after:g} s" if retry_after is not None else ""
        super().__init__(system, f"rate limited{told}")
        self.retry_after = retry_after


# The longest wait a system's Retry-After is taken for: a case retries no later than this.
RETRY_AFTER_MOST = 900.0


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's delay in seconds (RFC 9110: digits or an HTTP date), at most
    RETRY_AFTER_MOST; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,12}", value):
        return min(float(value), RETRY_AFTER_MOST)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), RETRY_AFTER_MOST)
