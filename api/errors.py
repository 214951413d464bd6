"""Domain errors and the one place they become HTTP statuses."""

from __future__ import annotations

from typing import Any

from closeout.access import Refusal


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class BadRequest(DomainError):
    """The request cannot be read (a malformed payload, say)."""

    status_code = 400


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    """Already decided, already open, or the case is in the wrong stage."""

    status_code = 409


class Forbidden(DomainError):
    status_code = 403


class Gone(DomainError):
    """What was asked for existed and was deleted for good."""

    status_code = 410


class Invalid(DomainError):
    status_code = 422


class Unavailable(DomainError):
    status_code = 503


# The workflow validators' rejection types and the status each one means.
UPDATE_REJECTIONS: dict[str, type[DomainError]] = {
    Refusal.UNKNOWN_TASK: NotFound,
    Refusal.UNKNOWN_HOLD: NotFound,
    Refusal.TASK_ALREADY_DECIDED: Conflict,
    Refusal.TASK_CLAIMED: Conflict,
    Refusal.TASK_NOT_CLAIMED: Conflict,
    Refusal.LINK_USED: Conflict,
    Refusal.EVIDENCE_KNOWN: Conflict,
    Refusal.WRONG_STAGE: Conflict,
    Refusal.INVALID_DECISION: Invalid,
    Refusal.INVALID_REQUEST: Invalid,
    Refusal.FOUR_EYES: Invalid,
    Refusal.FORBIDDEN: Forbidden,
}
