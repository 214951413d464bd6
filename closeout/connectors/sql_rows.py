"""The SQL adapter's ground: an engine that gives up in time, a row's values to JSON and back
by the column's type, what an anonymisation has not reached, and a driver error's kind."""

from __future__ import annotations

import base64
import re
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Table, create_engine, or_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import LargeBinary

from closeout.connectors.sql_mapping import DeleteRule

REFUSED = re.compile(
    r"authentication failed|access denied|role \".*\" (does not exist|is not permitted to log in)"
)
TIMEOUT = ("timeout", "timed out", "statement timeout", "database is locked")


def sql_engine(url: str, timeout: float) -> Engine:
    """An engine that gives up after `timeout` seconds: connecting, and (PostgreSQL) each
    statement; SQLite waits that long for a lock."""
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args = {
            "connect_timeout": max(1, int(timeout)),
            "options": f"-c statement_timeout={int(timeout * 1000)}",
        }
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def kind_of(exc: DBAPIError) -> str:
    """A database error without its message: the driver's class and SQLSTATE or SQLite code."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "sqlite_errorname", None)
    kind = type(exc.orig).__name__
    return f"{kind} ({code})" if code else kind


def to_json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return str(value)  # decimals, UUIDs, intervals, ranges: as the database writes them


def from_json(table: Table, column: str, value: Any) -> Any:
    if value is None or column not in table.c:
        return value
    kind = table.c[column].type
    if isinstance(kind, LargeBinary) and isinstance(value, str):
        return base64.b64decode(value)
    try:
        python = kind.python_type
    except NotImplementedError:
        return value
    if isinstance(value, str) and python in (datetime, date, time, Decimal):
        return python.fromisoformat(value) if python is not Decimal else Decimal(value)
    return value


def not_cleared(table: Table, rule: DeleteRule) -> ColumnElement[bool]:
    """Rows an anonymisation has not yet reached."""
    return or_(*(table.c[c].is_distinct_from(v) for c, v in rule.cleared.items()))
