"""The evidence each trigger must carry (domain §1): numbers, dates and ids."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from datetime import date
from functools import reduce
from typing import Annotated, Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from closeout.domain import Trigger


class _Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _DetectedEvidence(_Evidence):
    # The competitor the CRM says the customer moved to or talks with (churn class
    # competitive), when it says one.
    competitor: str | None = Field(default=None, max_length=200)


class InactivityEvidence(_DetectedEvidence):
    inactive_days: int = Field(ge=0)
    last_order_date: date | None = None
    last_interaction_date: date | None = None
    order_drop_percent: float | None = Field(default=None, ge=0, le=100)


class PaymentArrearsEvidence(_DetectedEvidence):
    invoice_ids: list[str] = Field(min_length=1)
    overdue_amount_cents: int = Field(ge=0)
    days_overdue: int = Field(ge=0)
    default_count: int = Field(default=0, ge=0)


class UnprofitableEvidence(_DetectedEvidence):
    revenue_cents: int = Field(ge=0)
    cost_to_serve_cents: int = Field(ge=0)
    margin_percent: float


class ResourceDrainEvidence(_DetectedEvidence):
    ticket_count: int = Field(ge=0)
    support_hours: float = Field(ge=0)
    ratio_to_segment_median: float = Field(gt=0)


def _non_empty(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"minItems": 1}}}


class RelationshipBreakdownEvidence(_DetectedEvidence):
    # The rule of `_something` below, published: at least one of the three.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                _non_empty("complaint_ids"),
                _non_empty("dispute_ids"),
                {
                    "required": ["satisfaction_score"],
                    "properties": {"satisfaction_score": {"type": "number"}},
                },
            ]
        }
    )

    complaint_ids: list[str] = Field(default_factory=list)
    dispute_ids: list[str] = Field(default_factory=list)
    satisfaction_score: float | None = Field(default=None, ge=0, le=10)

    @model_validator(mode="after")
    def _something(self) -> RelationshipBreakdownEvidence:
        if not (self.complaint_ids or self.dispute_ids or self.satisfaction_score is not None):
            raise ValueError("give complaint_ids, dispute_ids or a satisfaction_score")
        return self


class UnreachableEvidence(_DetectedEvidence):
    bounced_emails: int = Field(default=0, ge=0)
    failed_calls: int = Field(default=0, ge=0)
    days_without_answer: int = Field(ge=0)


class DataQualityEvidence(_Evidence):
    """A duplicate record (the customers it shares an e-mail, phone or tax id with, and which
    of those) or one with no way to reach the customer at all."""

    problem: Literal["duplicate", "no_contact"]
    duplicate_of: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    same: list[Literal["email", "phone", "tax_id"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _duplicates_named(self) -> DataQualityEvidence:
        if self.problem == "duplicate" and not (self.duplicate_of and self.same):
            raise ValueError("a duplicate names the records it duplicates and what they share")
        return self


class CustomerRequestEvidence(_Evidence):
    channel: str = Field(min_length=1, max_length=40)
    requested_on: date
    request_reference: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)
    # The requester proved who they are (signed in, or followed a link sent to their
    # address): the policy's identity check by the owner is skipped.
    identity_verified: bool = False


class FraudEvidence(_Evidence):
    case_reference: str = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=2000)


class ManualEvidence(_Evidence):
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")


EVIDENCE_MODELS: dict[Trigger, type[_Evidence]] = {
    Trigger.INACTIVITY: InactivityEvidence,
    Trigger.PAYMENT_ARREARS: PaymentArrearsEvidence,
    Trigger.UNPROFITABLE: UnprofitableEvidence,
    Trigger.RESOURCE_DRAIN: ResourceDrainEvidence,
    Trigger.RELATIONSHIP_BREAKDOWN: RelationshipBreakdownEvidence,
    Trigger.UNREACHABLE: UnreachableEvidence,
    Trigger.CUSTOMER_REQUEST: CustomerRequestEvidence,
    Trigger.FRAUD: FraudEvidence,
    Trigger.MANUAL: ManualEvidence,
    Trigger.DATA_QUALITY: DataQualityEvidence,
}


def validated_evidence(trigger: Trigger, evidence: dict[str, Any]) -> dict[str, Any]:
    """The trigger's evidence, checked; a 422 names the field under `body.evidence`."""
    try:
        model = EVIDENCE_MODELS[trigger].model_validate(evidence)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**err, "loc": ("body", "evidence", *err["loc"])}
                for err in exc.errors(include_url=False)
            ]
        ) from exc
    return model.model_dump(mode="json", exclude_none=True)


def described_by_trigger(body: type[BaseModel], triggers: Iterable[Trigger]) -> BeforeValidator:
    """Publish `body` as one variant per trigger, each naming the evidence that trigger needs.

    What is accepted does not change: `body` validates as it always did and
    `validated_evidence` checks the evidence, under the same error locations. The published
    schema says the same in advance, as a union discriminated by `trigger`, so that clients
    generated from it send evidence the API accepts.
    """
    variants: list[type[BaseModel]] = []
    for trigger in triggers:
        fields: dict[str, Any] = {
            name: (field.annotation, field) for name, field in body.model_fields.items()
        }
        fields["trigger"] = (Literal[trigger], ...)
        fields["evidence"] = (EVIDENCE_MODELS[trigger], ...)
        name = "".join(part.title() for part in trigger.value.split("_")) + body.__name__
        variants.append(create_model(name, __config__=body.model_config, **fields))
    union = reduce(operator.or_, variants)
    # A type made at import time, which mypy cannot see into; pydantic reads it as written.
    by_trigger = Annotated[union, Field(discriminator="trigger")]  # type: ignore[valid-type]
    return BeforeValidator(_unchanged, json_schema_input_type=by_trigger)


def _unchanged(value: object) -> object:
    return value
