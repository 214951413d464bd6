"""Detection's settings: the rules' thresholds, when the scan runs, the cool-down after a case
(`CLOSEOUT_DETECTION__*`, part of `closeout.settings.Settings`)."""

from __future__ import annotations

from datetime import time, timedelta

from pydantic import BaseModel, Field, field_validator

from closeout.domain import Outcome, Trigger

# The ends of a case after which detection leaves the customer alone for a while.
COOLING_OUTCOMES = (Outcome.RETAINED, Outcome.REJECTED, Outcome.CANCELLED)


class DetectionConfig(BaseModel):
    """Thresholds of the daily detection rules (domain §1) and when the scan runs."""

    inactivity_days: int = Field(default=180, ge=1)
    arrears_min_invoices: int = Field(default=2, ge=1)
    arrears_min_amount_cents: int = Field(default=100_000, ge=0)
    arrears_min_days_overdue: int = Field(default=30, ge=0)
    profit_window_days: int = Field(default=365, ge=1)
    support_hour_cost_cents: int = Field(default=8_000, ge=0)
    # Flagged when the margin over the window falls below this (a loss: below zero).
    unprofitable_below_margin_percent: float = 0.0
    drain_window_days: int = Field(default=90, ge=1)
    # Support hours this many times the median of the customer's value tier.
    drain_ratio: float = Field(default=3.0, gt=1)
    complaint_window_days: int = Field(default=90, ge=1)
    complaint_min: int = Field(default=3, ge=1)
    # Declining orders: the last window's orders against the window before.
    order_drop_window_days: int = Field(default=90, ge=7)
    order_drop_min_orders: int = Field(default=4, ge=1)
    order_drop_min_percent: float = Field(default=60.0, gt=0, le=100)
    unreachable_min_bounces: int = Field(default=3, ge=1)
    unreachable_days: int = Field(default=60, ge=1)
    # The daily run, in this time zone; how many cases it starts at once.
    daily_at: time = time(2, 30)
    time_zone: str = "UTC"
    max_concurrent_starts: int = Field(default=20, ge=1, le=500)
    # How many rules query the CRM at once, each on its own connection.
    scan_parallelism: int = Field(default=3, ge=1, le=16)
    # PostgreSQL only: work_mem for the scan's transactions (hash joins over every customer).
    postgres_work_mem: str = Field(default="256MB", pattern=r"^[1-9][0-9]*(kB|MB|GB)$")
    page_size: int = Field(default=500, ge=1, le=10_000)
    # A customer whose case ended retained, rejected or cancelled is not flagged again for
    # this long (per outcome in `cool_down_by_outcome`), unless one of `cool_down_breakers`
    # catches them or their evidence got materially worse: the measure of the trigger that
    # flags them reached `cool_down_worse_factor` times what their ended case recorded.
    cool_down: timedelta = timedelta(days=90)
    cool_down_by_outcome: dict[Outcome, timedelta] = Field(default_factory=dict)
    cool_down_breakers: tuple[Trigger, ...] = (Trigger.FRAUD, Trigger.CUSTOMER_REQUEST)
    cool_down_worse_factor: float = Field(default=2.0, gt=1)

    @field_validator("cool_down_by_outcome")
    @classmethod
    def _cooling_outcomes(cls, value: dict[Outcome, timedelta]) -> dict[Outcome, timedelta]:
        wrong = sorted(set(value) - set(COOLING_OUTCOMES))
        if wrong:
            raise ValueError(
                f"no cool-down follows {', '.join(wrong)}: only "
                f"{', '.join(COOLING_OUTCOMES)} cases are followed by one"
            )
        if any(d < timedelta(0) for d in value.values()):
            raise ValueError("a cool-down cannot be negative")
        return value

    @field_validator("cool_down")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("a cool-down cannot be negative")
        return value

    def cool_down_after(self, outcome: Outcome) -> timedelta:
        return self.cool_down_by_outcome.get(outcome, self.cool_down)


__all__ = ["COOLING_OUTCOMES", "DetectionConfig"]
