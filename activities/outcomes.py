"""How activities report: failures that no retry can fix, and audit events with details."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, cast
from uuid import NAMESPACE_URL, uuid5

from temporalio.exceptions import ApplicationError

from closeout.connectors.errors import (
    AmbiguousCustomer,
    ConnectorError,
    RateLimited,
    UnknownCustomer,
)
from closeout.contracts import AuditEntry
from closeout.crm.port import CustomerSource


def permanent(message: str, kind: str) -> ApplicationError:
    """A failure the activity must not retry (unknown customer, invalid input)."""
    return ApplicationError(message, type=kind, non_retryable=True)


def connector_failure(exc: ConnectorError) -> ApplicationError:
    """A connected system's failure as the activity reports it: an unknown or ambiguous
    customer is final; anything else is retried, a rate limit no sooner than the system asked."""
    if isinstance(exc, UnknownCustomer):
        return permanent(str(exc), "UnknownCustomer")
    if isinstance(exc, AmbiguousCustomer):  # someone must first say which record is theirs
        return permanent(str(exc), "AmbiguousCustomer")
    delay = None
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        delay = timedelta(seconds=exc.retry_after)
    return ApplicationError(str(exc), type=type(exc).__name__, next_retry_delay=delay)


def with_details(entry: AuditEntry, **details: object) -> AuditEntry:
    return replace(entry, details={**entry.details, **details})


def erasure_of(entry: AuditEntry) -> AuditEntry:
    """The audit event recording the erasure that the step of `entry` performs."""
    event_id = str(uuid5(NAMESPACE_URL, f"closeout:erasure:{entry.event_id}"))
    return replace(entry, event_id=event_id, reason=None, details={})


class ReportedSource:
    """The customer source as the activities call it: a connected system's failure reported
    as `connector_failure` says (an ambiguous customer final, a rate limit after its delay)."""

    def __init__(self, source: CustomerSource) -> None:
        self._source = source

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._source, name)

        def reported(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except ConnectorError as exc:
                raise connector_failure(exc) from exc

        return reported


def reported(source: CustomerSource) -> CustomerSource:
    return cast(CustomerSource, ReportedSource(source))
