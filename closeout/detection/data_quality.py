"""Duplicate and invalid customer records (trigger `data_quality`): reviewed, never closed.

A record is a duplicate when an older active record has the same e-mail, phone or tax id
(compared as people write them: case, spaces and separators aside); the oldest of a group is
the one the others are merged into, so it is never flagged itself. A record with no e-mail or
phone of its own and no contact with either cannot be reached at all. Set-based queries, the
same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select, union_all
from sqlmodel import col

from closeout.crm.models import CrmContact, CrmCustomer
from closeout.detection.config import DetectionConfig
from closeout.detection.query import ACTIVE, Query

_SEPARATORS = (" ", "-", "(", ")", ".", "/", "+")


def _stripped(column: Any, upper: bool = False) -> Any:
    """The value with case, spaces and separators set aside, as two people might write it."""
    value = func.trim(column)
    for separator in _SEPARATORS:
        value = func.replace(value, separator, "")
    return func.upper(value) if upper else value


# (the field, the comparable value)
_KEYS = (
    ("email", func.lower(func.trim(col(CrmCustomer.email)))),
    ("phone", _stripped(col(CrmCustomer.phone))),
    ("tax_id", _stripped(col(CrmCustomer.tax_id), upper=True)),
)


def duplicates(_cfg: DetectionConfig, _now: datetime, _dialect: str = "sqlite") -> Query:
    """Each active customer some older active customer shares an e-mail, phone or tax id with:
    those older ones, and what they share."""
    members = []
    for field, key in _KEYS:
        shared = (
            select(key.label("k"))
            .where(ACTIVE, key.is_not(None), key != "")
            .group_by(key)
            .having(func.count() > 1)
            .subquery()
        )
        members.append(
            select(
                col(CrmCustomer.id).label("customer_id"),
                col(CrmCustomer.created_at).label("created_at"),
                literal(field).label("field"),
                key.label("k"),
            )
            .join(shared, shared.c.k == key)
            .where(ACTIVE)
        )
    found = union_all(*members).cte("shared_keys")
    older = found.alias("older")
    return (
        select(
            found.c.customer_id,
            func.aggregate_strings(older.c.customer_id, ",").label("duplicate_of"),
            func.aggregate_strings(found.c.field, ",").label("same"),
        )
        .join(
            older,
            and_(
                older.c.field == found.c.field,
                older.c.k == found.c.k,
                or_(
                    older.c.created_at < found.c.created_at,
                    and_(
                        older.c.created_at == found.c.created_at,
                        older.c.customer_id < found.c.customer_id,
                    ),
                ),
            ),
        )
        .group_by(found.c.customer_id)
    )


def _unique(joined: str | None) -> list[str]:
    return sorted({i for i in (joined or "").split(",") if i})


def duplicate_evidence(row: Any, _now: datetime) -> dict[str, Any]:
    return {
        "problem": "duplicate",
        "duplicate_of": _unique(row.duplicate_of),
        "same": _unique(row.same),
    }


def _empty(column: Any) -> Any:
    return or_(column.is_(None), func.trim(column) == "")


def no_contact(_cfg: DetectionConfig, _now: datetime, _dialect: str = "sqlite") -> Query:
    """Active customers with no e-mail or phone of their own and no contact with either."""
    reachable = exists().where(
        col(CrmContact.customer_id) == col(CrmCustomer.id),
        or_(~_empty(col(CrmContact.email)), ~_empty(col(CrmContact.phone))),
    )
    return select(col(CrmCustomer.id).label("customer_id")).where(
        ACTIVE,
        _empty(col(CrmCustomer.email)),
        _empty(col(CrmCustomer.phone)),
        ~reachable,
    )


def no_contact_evidence(_row: Any, _now: datetime) -> dict[str, Any]:
    return {"problem": "no_contact"}
