"""Closing policies: the durations, retention periods and rules a case follows, and the two
built in (`standard`, `demo`). Named in `CLOSEOUT_POLICIES`, chosen by `CLOSEOUT_POLICY_RULES`."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

from closeout.domain import DataCategory, Trigger, ValueTier


class PolicyConfig(BaseModel):
    """The durations a named closure policy sets (ISO-8601 durations or seconds)."""

    win_back_window: timedelta
    notice_period: timedelta
    approval_due: timedelta
    retention: timedelta
    # A reminder this long before the effective date; none when unset.
    reminder_before: timedelta | None = None
    # The assignee of a task is reminded this long before it is due (none when unset); an
    # overdue task escalates to the managers' group.
    task_reminder_before: timedelta | None = timedelta(days=1)
    # Tell the customer once their data is deleted (the last message they get from us).
    deletion_confirmation: bool = False
    four_eyes_tiers: list[ValueTier] = Field(
        default_factory=lambda: [ValueTier.HIGH, ValueTier.KEY]
    )
    # Retention per data category, counted from the archive date; a category not named is
    # kept for `retention`. Empty (and no jurisdictions): every category is kept for
    # `retention` and deleted at once.
    category_retention: dict[DataCategory, timedelta] = Field(default_factory=dict)
    # Per jurisdiction (the customer's country, ISO 3166 alpha-2): periods replacing the
    # ones above for customers there.
    jurisdictions: dict[str, dict[DataCategory, timedelta]] = Field(default_factory=dict)
    # A customer's own request to be deleted: the categories the law obliges the company to
    # keep (for their period above, restricted); every other one is deleted at once.
    legal_categories: list[DataCategory] = Field(
        default_factory=lambda: [DataCategory.CONTRACTS, DataCategory.ACCOUNTING_RECORDS]
    )
    # Whether the owner checks the requester's identity (an approval task) before anything is
    # done; a request whose sender proved their address (a signed link) may skip it.
    request_identity_check: bool = True
    # How long a customer may withdraw their own request (by the link in the mail telling
    # them it was received) before anything is done; none by default.
    request_cooling_off: timedelta = Field(default=timedelta(0), ge=timedelta(0))

    def periods_for(self, country: str | None) -> dict[DataCategory, timedelta] | None:
        """Each category's retention for a customer in `country`; None: one period for all."""
        if not self.category_retention and not self.jurisdictions:
            return None
        periods = {c: self.category_retention.get(c, self.retention) for c in DataCategory}
        periods.update(self.jurisdictions.get((country or "").upper(), {}))
        return periods


YEAR = timedelta(days=365)

# The documented default periods (README, "Retention by data category"): a starting point
# to confirm with counsel, not legal advice.
DEFAULT_CATEGORY_RETENTION = {
    # No purpose is left once the customer is gone.
    DataCategory.MARKETING_DATA: timedelta(0),
    # Long enough to answer an objection or welcome the customer back.
    DataCategory.CONTACT_DATA: timedelta(days=90),
    # Disputes about service are raised within a year.
    DataCategory.INTERACTION_HISTORY: YEAR,
    # The general limitation period for contractual claims (PRC Civil Code art. 188; BGB 195).
    DataCategory.CONTRACTS: 3 * YEAR,
    # Books and vouchers: 10 years (HGB 257, AO 147).
    DataCategory.ACCOUNTING_RECORDS: 10 * YEAR,
}
DEFAULT_JURISDICTIONS = {
    # Accounting vouchers and books: 30 years (Accounting Archives Management Measures, art. 14).
    "CN": {DataCategory.ACCOUNTING_RECORDS: 30 * YEAR},
    # Commercial letters, contracts among them: 6 years (HGB 257).
    "DE": {DataCategory.CONTRACTS: 6 * YEAR},
}

STANDARD_POLICY = PolicyConfig(
    win_back_window=timedelta(days=14),
    notice_period=timedelta(days=30),
    approval_due=timedelta(days=7),
    retention=timedelta(days=3 * 365),
    reminder_before=timedelta(days=7),
    category_retention=DEFAULT_CATEGORY_RETENTION,
    jurisdictions=DEFAULT_JURISDICTIONS,
)

# Waits of seconds so a newcomer watches a whole case, approval included, in about a minute.
DEMO_POLICY = PolicyConfig(
    win_back_window=timedelta(seconds=8),
    notice_period=timedelta(seconds=10),
    approval_due=timedelta(minutes=5),
    retention=timedelta(seconds=20),
    reminder_before=timedelta(seconds=4),
    task_reminder_before=timedelta(minutes=2),
    deletion_confirmation=True,
    category_retention={
        DataCategory.MARKETING_DATA: timedelta(0),
        DataCategory.CONTACT_DATA: timedelta(seconds=8),
        DataCategory.INTERACTION_HISTORY: timedelta(seconds=12),
        DataCategory.CONTRACTS: timedelta(seconds=16),
        DataCategory.ACCOUNTING_RECORDS: timedelta(seconds=20),
    },
)


class PolicyRule(BaseModel):
    """A case opened without a named policy gets the policy of the first rule whose every given
    condition holds (`CLOSEOUT_POLICY_RULES`, a JSON list); none holding: `default_policy`."""

    policy: str = Field(min_length=1)
    trigger: Trigger | None = None
    value_tier: ValueTier | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")

    def holds(self, trigger: Trigger, value_tier: str | None, country: str | None) -> bool:
        return (
            (self.trigger is None or self.trigger == trigger)
            and (self.value_tier is None or self.value_tier == value_tier)
            and (self.country is None or self.country == (country or "").upper())
        )
