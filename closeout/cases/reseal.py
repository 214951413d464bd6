"""Sealing the words written before the read model sealed them (`closeout keys seal-words`).

Rows written by an earlier version hold a customer's words in the clear: readable, and erased
at deletion as ever, but on PostgreSQL their old versions outlive the erasure on disk. This
walks every listed column (closeout/cases/erasure.py) and the free text of the audit events of
customers' cases, and seals what is still plain under its customer's key. Idempotent: a second
run finds nothing to seal. Audit digests are of the plain content, so the chain still verifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, tuple_, update

from closeout.audit.models import AuditEvent
from closeout.cases.erasure import FREE_TEXT, FreeText
from closeout.cases.models import CaseRecord
from closeout.cases.sealing import SealedWords
from closeout.crypto.data_keys import KeyDestroyed
from closeout.crypto.words import JSON_FIELD, has_words, is_sealed
from closeout.db import Database, table_of

_CASES = table_of(CaseRecord)
_EVENTS = table_of(AuditEvent)
AUDIT = "audit_event.reason_and_details"


@dataclass
class Resealed:
    """Values sealed per column; customers whose key was destroyed are left as they are (their
    deletion erases the rows, and the verification fails on any word it finds)."""

    sealed: dict[str, int] = field(default_factory=dict)
    skipped: int = 0


def _plain(item: FreeText, value: Any) -> bool:
    if value is None or value == "":
        return False
    if item.json:
        return isinstance(value, dict) and JSON_FIELD not in value and has_words(value)
    return not is_sealed(value)


def _pages(db: Database, item: FreeText, batch: int) -> Iterator[list[tuple[Any, ...]]]:
    """(key..., customer, value) of the item's rows, a batch at a time by primary key."""
    keys = list(item.table.primary_key.columns)
    column = item.table.c[item.column]
    if item.by == "customer_id":
        query = select(*keys, item.table.c.customer_id, column).where(column.is_not(None))
    else:
        query = select(*keys, _CASES.c.customer_id, column).where(
            column.is_not(None), _CASES.c.id == item.table.c.case_id
        )
    after: tuple[Any, ...] | None = None
    while True:
        page = query if after is None else query.where(tuple_(*keys) > tuple_(*after))
        with db.transaction() as connection:
            rows = [tuple(r) for r in connection.execute(page.order_by(*keys).limit(batch))]
        if not rows:
            return
        yield rows
        after = tuple(rows[-1][: len(keys)])


def seal_plain_words(db: Database, sealed: SealedWords, batch: int = 500) -> Resealed:
    result = Resealed()
    for item in FREE_TEXT:
        keys = list(item.table.primary_key.columns)
        n = 0
        for rows in _pages(db, item, batch):
            for row in rows:
                *row_key, customer, value = row
                if not _plain(item, value):
                    continue
                try:
                    stored = sealed.seal(item.table.name, customer, {item.column: value})
                except KeyDestroyed:
                    result.skipped += 1
                    continue
                with db.transaction() as connection:
                    connection.execute(
                        update(item.table)
                        .where(*(k == v for k, v in zip(keys, row_key, strict=True)))
                        .values(stored)
                    )
                n += 1
        if n:
            result.sealed[item.name] = n
    events = _reseal_audit(db, sealed, result, batch)
    if events:
        result.sealed[AUDIT] = events
    return result


def _reseal_audit(db: Database, sealed: SealedWords, result: Resealed, batch: int) -> int:
    query = select(_EVENTS.c.seq, _CASES.c.customer_id, _EVENTS.c.reason, _EVENTS.c.details).where(
        _EVENTS.c.case_id == _CASES.c.id, _EVENTS.c.erased_at.is_(None)
    )
    n, after = 0, 0
    while True:
        with db.transaction() as connection:
            rows = connection.execute(
                query.where(_EVENTS.c.seq > after).order_by(_EVENTS.c.seq).limit(batch)
            ).all()
        if not rows:
            return n
        after = rows[-1][0]
        for seq, customer, reason, details in rows:
            plain_reason = bool(reason) and not is_sealed(reason)
            plain_details = JSON_FIELD not in details and has_words(details)
            if not plain_reason and not plain_details:
                continue
            try:
                stored_reason, stored_details = sealed.audit(customer, reason, details)
            except KeyDestroyed:
                result.skipped += 1
                continue
            with db.transaction() as connection:
                connection.execute(
                    update(_EVENTS)
                    .where(_EVENTS.c.seq == seq)
                    .values(reason=stored_reason, details=stored_details)
                )
            n += 1
