"""The paging parameters every list takes, bounded so they fit the database's integers.

An offset past 2^63 - 1 overflows a 64-bit integer column in SQLite and PostgreSQL alike; the
bound answers 422 with the limit named instead, long before that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query

MAX_LIMIT = 500
# Ten million rows: more than any list is expected to hold, far below 2^63.
MAX_OFFSET = 10_000_000
# The pages' `page` numbers: with at most 100 rows a page, offsets stay under MAX_OFFSET.
MAX_PAGE = 100_000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="how many items at most")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="how many items to skip")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="which page, from 1")]

# A page's list counts its rows up to this many past the page shown, not all of them: the
# count of a list that grows with the business would otherwise cost more with every row.
COUNT_AHEAD = 200


@dataclass(frozen=True)
class Pager:
    """A page's place in its list, for the pager under a table."""

    page: int
    pages: int
    total: str  # "1234", or "1500+" when counting stopped there
    pages_shown: str
    has_next: bool


def pager(page: int, per_page: int, total: int, capped: bool) -> Pager:
    pages = max(1, -(-total // per_page))
    more = "+" if capped else ""
    return Pager(page, pages, f"{total}{more}", f"{pages}{more}", page < pages or capped)
