"""How activities report: failures that no retry can fix, and audit events with details."""

from __future__ import annotations

from dataclasses import replace
from uuid import NAMESPACE_URL, uuid5

from temporalio.exceptions import ApplicationError

from closeout.contracts import AuditEntry


def permanent(message: str, kind: str) -> ApplicationError:
    """A failure the activity must not retry (unknown customer, invalid input)."""
    return ApplicationError(message, type=kind, non_retryable=True)


def with_details(entry: AuditEntry, **details: object) -> AuditEntry:
    return replace(entry, details={**entry.details, **details})


def erasure_of(entry: AuditEntry) -> AuditEntry:
    """The audit event recording the erasure that the step of `entry` performs."""
    event_id = str(uuid5(NAMESPACE_URL, f"closeout:erasure:{entry.event_id}"))
    return replace(entry, event_id=event_id, reason=None, details={})
