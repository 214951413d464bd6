"""Domain errors and the one place they become HTTP statuses."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from closeout.access import Refusal

M = TypeVar("M", bound=BaseModel)


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


def validated(model: type[M], **values: Any) -> M:
    """A request body built from a page's form: what the JSON API refuses with a 422 is refused
    here too, naming the field and the rule, never a server error."""
    try:
        return model(**values)
    except ValidationError as exc:
        problems = (
            f"{'.'.join(str(part) for part in error['loc'])}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise Invalid("; ".join(problems)) from None
