"""Retention clocks by data category: when each category of an archived customer is due.

Pure and deterministic (workflow code): the workflow owns one `RetentionClocks` and asks it
what to delete next; nothing here does I/O or reads the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from closeout.contracts import CaseTerms, CategoryClock
from closeout.domain import DataCategory

# Deletion order when several categories fall due at once: the least needed first.
ORDER = tuple(DataCategory)


@dataclass
class RetentionClocks:
    started_at: datetime
    ends: dict[DataCategory, datetime]
    deleted: dict[DataCategory, datetime]

    @classmethod
    def start(cls, started_at: datetime, periods: dict[DataCategory, timedelta]) -> RetentionClocks:
        return cls(started_at, {c: started_at + p for c, p in periods.items()}, {})

    def remaining(self) -> list[DataCategory]:
        return [c for c in ORDER if c in self.ends and c not in self.deleted]

    def due(self, now: datetime) -> list[DataCategory]:
        return [c for c in self.remaining() if self.ends[c] <= now]

    def next_end(self) -> datetime | None:
        ends = [self.ends[c] for c in self.remaining()]
        return min(ends) if ends else None

    def last_end(self) -> datetime:
        return max(self.ends[c] for c in self.remaining()) if self.remaining() else self.started_at

    def mark_deleted(self, categories: list[DataCategory], at: datetime) -> None:
        for category in categories:
            self.deleted[category] = at

    def set_end(self, end: datetime, category: DataCategory | None = None) -> None:
        """A compliance officer's new end: for one category, or for every one still held."""
        for c in [category] if category is not None else self.remaining():
            if c in self.ends and c not in self.deleted:
                self.ends[c] = end

    def moves(
        self, periods: dict[DataCategory, timedelta]
    ) -> dict[DataCategory, tuple[datetime, datetime]]:
        """Which still-held categories a new set of periods would move, from when to when."""
        moved = {}
        for c in self.remaining():
            if c in periods and self.started_at + periods[c] != self.ends[c]:
                moved[c] = (self.ends[c], self.started_at + periods[c])
        return moved

    def views(self) -> list[CategoryClock]:
        return [
            CategoryClock(c, self.ends[c], self.deleted.get(c)) for c in ORDER if c in self.ends
        ]


def request_periods(terms: CaseTerms) -> dict[DataCategory, timedelta]:
    """A customer's own request: the categories the law requires are kept for their period,
    every other one is deleted at once."""
    legal = set(terms.legal_categories or ())
    base = terms.category_retention or {}
    return {c: (base.get(c, terms.retention) if c in legal else timedelta(0)) for c in DataCategory}
