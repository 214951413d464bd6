"""The days and moments a request may name, bounded so the arithmetic on them stays inside
the calendar.

A report's default start is a year before its end, the audit search's end is the day after
the one given, and a moment without a time zone cannot be compared with the stored ones:
year 1, year 9999 or a bare local time would fail on the server instead of being refused.
Every date and time a query string or a form takes is one of these types, so the refusal is
a 422 naming the bounds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)


def _day_within(day: date) -> date:
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"dates run from {EARLIEST.isoformat()} to {LATEST.isoformat()}")
    return day


def _moment_within(moment: datetime) -> datetime:
    if (
        not datetime.combine(EARLIEST, time(0), UTC)
        <= moment
        <= datetime.combine(LATEST, time.max, UTC)
    ):
        raise ValueError(f"times run from {EARLIEST.isoformat()} to {LATEST.isoformat()}")
    return moment


# A calendar day, e.g. 2026-12-31.
Day = Annotated[date, AfterValidator(_day_within)]
# A moment with its time zone, e.g. 2026-12-31T09:00:00Z.
Moment = Annotated[AwareDatetime, AfterValidator(_moment_within)]
