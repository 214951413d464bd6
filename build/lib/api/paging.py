"""The paging parameters every list takes, bounded so they fit the database's integers.

An offset past 2^63 - 1 overflows a 64-bit integer column in SQLite and PostgreSQL alike; the
bound answers 422 with the limit named instead, long before that.
"""

from __future__ import annotations

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
