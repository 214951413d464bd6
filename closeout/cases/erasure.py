"""Every column of the read model that can hold words about a customer, in one list.

They are sealed under the customer's own data key as they are written (closeout/cases/
sealing.py), so the copies a database keeps of old row versions die with that key. Deletion
also erases them (ids, kinds, dates and numbers stay, so lists and the audit still add up)
and the verification scans them before a certificate is issued: a word put back fails it. A
new column that can hold a customer's words belongs in `FREE_TEXT`, or deletion leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Executable,
    Table,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)

from closeout.audit.chain import non_personal
from closeout.audit.models import AuditEvent
from closeout.cases.models import CaseRecord, LegalHoldRecord, NoticeRecord, TaskRecord
from closeout.crypto.data_keys import OUTBOX_SCOPE, WORDS_SCOPE
from closeout.db import Database, table_of
from closeout.detection.models import DetectionCandidate, DetectionExclusion, TriggerDelivery
from closeout.inbound.models import InboundAttachment, InboundMessage

_CASES = table_of(CaseRecord)
_EVENTS = table_of(AuditEvent)
# A webhook's delivery keeps a digest of the body it came with (the customer's evidence, in
# few enough variants to guess): the row goes with the customer.
_DELIVERIES = table_of(TriggerDelivery)
DELIVERIES = "trigger_delivery.body_sha256"
# The name the verification gives events of the customer's cases that still hold words.
AUDIT_TEXT = "audit_event.reason_and_details"


@dataclass(frozen=True)
class FreeText:
    """A column that may hold the customer's words, and how a row is known to be theirs."""

    table: Table
    column: str
    # "customer_id": the row names the customer; "case_id": the row belongs to their case.
    by: str
    # Free text, or JSON whose strings go (numbers, ids and dates stay: the audit's rule).
    json: bool = False
    # Erased by the outbox once its sealed message is sent, not by `erase_customer_words`:
    # the deletion confirmation is written before the deletion and sent after it.
    outbox: bool = False

    @property
    def scope(self) -> str:
        """The customer's data key the column is sealed under (closeout/crypto/words.py)."""
        return OUTBOX_SCOPE if self.outbox else WORDS_SCOPE

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column}"

    @property
    def blank(self) -> str | None:
        """What an erased value reads: NULL, or '' where the column must hold something."""
        return None if self.table.c[self.column].nullable else ""


FREE_TEXT: tuple[FreeText, ...] = (
    # Evidence: a customer's request in their words, a manual case's reason, further triggers.
    FreeText(_CASES, "evidence", "customer_id", json=True),
    # Task notes quote the customer ("customer object: ..."); comments explain decisions.
    FreeText(table_of(TaskRecord), "note", "customer_id"),
    FreeText(table_of(TaskRecord), "comment", "customer_id"),
    # Holds name disputes and litigation, often by the customer's name.
    FreeText(table_of(LegalHoldRecord), "reason", "case_id"),
    FreeText(table_of(LegalHoldRecord), "reference", "case_id"),
    FreeText(table_of(LegalHoldRecord), "release_reason", "case_id"),
    # Why the daily scan left the customer alone, and what it found.
    FreeText(table_of(DetectionExclusion), "reason", "customer_id"),
    FreeText(table_of(DetectionCandidate), "evidence", "customer_id", json=True),
    # Where the notices went, and a message written ahead of the deletion.
    FreeText(table_of(NoticeRecord), "recipient", "case_id", outbox=True),
    FreeText(table_of(NoticeRecord), "sealed", "case_id", json=True, outbox=True),
    # What the customer wrote back, and the files they sent with it.
    FreeText(table_of(InboundMessage), "sender", "customer_id"),
    FreeText(table_of(InboundMessage), "subject", "customer_id"),
    FreeText(table_of(InboundMessage), "text", "customer_id"),
    FreeText(table_of(InboundAttachment), "filename", "customer_id"),
    FreeText(table_of(InboundAttachment), "content", "customer_id"),
)


# Statements are built once per column, the customer bound at execution: a deletion and its
# verification run some forty of them, and building one costs more than running it.
_CUSTOMER: BindParameter[Any] = bindparam("customer")
_CASES_OF = select(_CASES.c.id).where(_CASES.c.customer_id == _CUSTOMER).scalar_subquery()
_DELIVERIES_OF = _DELIVERIES.c.case_id.in_(_CASES_OF)
_DROP_DELIVERIES = delete(_DELIVERIES).where(_DELIVERIES_OF)
_COUNT_DELIVERIES = select(func.count()).select_from(_DELIVERIES).where(_DELIVERIES_OF)
_AUDIT_TEXT = select(_EVENTS.c.reason, _EVENTS.c.details).where(
    _EVENTS.c.case_id.in_(_CASES_OF), _EVENTS.c.erased_at.is_(None)
)


def _of_customer(item: FreeText) -> ColumnElement[bool]:
    if item.by == "customer_id":
        return item.table.c.customer_id == _CUSTOMER
    return item.table.c.case_id.in_(_CASES_OF)


def _holding_words(item: FreeText) -> ColumnElement[bool]:
    column = item.table.c[item.column]
    if item.json:
        return column.is_not(None)
    return and_(column.is_not(None), column != "")


@cache
def _statements(item: FreeText) -> tuple[Executable, Executable, Executable, Executable]:
    """(its rows with words, key first; how many; blank them; set one row's value by key)."""
    keys = list(item.table.primary_key.columns)
    mine = (_of_customer(item), _holding_words(item))
    return (
        select(*keys, item.table.c[item.column]).where(*mine),
        select(func.count()).select_from(item.table).where(*mine),
        update(item.table).where(*mine).values({item.column: item.blank}),
        update(item.table)
        .where(*(k == bindparam(f"key_{k.name}") for k in keys))
        .values({item.column: bindparam("kept")}),
    )


def _json_rows(
    connection: Connection, item: FreeText, customer_id: str
) -> list[tuple[dict[str, Any], Any, Any]]:
    """(the row's key, its value, the value without words) of the customer's rows."""
    keys = [k.name for k in item.table.primary_key.columns]
    rows = connection.execute(_statements(item)[0], {"customer": customer_id}).all()
    return [
        (
            {f"key_{k}": v for k, v in zip(keys, row[:-1], strict=True)},
            row[-1],
            _without_words(row[-1]),
        )
        for row in rows
    ]


def _without_words(value: Any) -> Any:
    if isinstance(value, dict):
        return non_personal(value)
    return non_personal({"value": value}).get("value")


class CustomerWords:
    """Erases and looks for a customer's words in the read model."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def erase(self, customer_id: str) -> dict[str, int]:
        """Erase the customer's words from every listed column but the outbox's; rows erased
        per column. Idempotent: a retry finds nothing left to erase."""
        erased: dict[str, int] = {}
        with self.db.transaction() as connection:
            for item in FREE_TEXT:
                if item.outbox:
                    continue
                erased[item.name] = self._erase(connection, item, customer_id)
            dropped = connection.execute(_DROP_DELIVERIES, {"customer": customer_id})
            erased[DELIVERIES] = int(dropped.rowcount or 0)
        return {name: n for name, n in erased.items() if n}

    def _erase(self, connection: Connection, item: FreeText, customer_id: str) -> int:
        if item.json:
            changed = 0
            for key, value, kept in _json_rows(connection, item, customer_id):
                if kept != value:
                    connection.execute(_statements(item)[3], {**key, "kept": kept})
                    changed += 1
            return changed
        result = connection.execute(_statements(item)[2], {"customer": customer_id})
        return int(result.rowcount or 0)

    def remaining(self, customer_id: str) -> dict[str, int]:
        """Rows of the customer still holding words, per column (none once deleted); the
        audit trail's events of their cases too (erased by the chain, which keeps their
        digests: closeout/audit/chain.py)."""
        found: dict[str, int] = {}
        with self.db.transaction() as connection:
            for item in FREE_TEXT:
                found[item.name] = self._count(connection, item, customer_id)
            found[AUDIT_TEXT] = self._audit_count(connection, customer_id)
            found[DELIVERIES] = int(
                connection.execute(_COUNT_DELIVERIES, {"customer": customer_id}).scalar_one()
            )
        return {name: n for name, n in found.items() if n}

    def _audit_count(self, connection: Connection, customer_id: str) -> int:
        rows = connection.execute(_AUDIT_TEXT, {"customer": customer_id}).all()
        return sum(1 for reason, details in rows if reason or non_personal(details) != details)

    def _count(self, connection: Connection, item: FreeText, customer_id: str) -> int:
        if item.json:
            rows = _json_rows(connection, item, customer_id)
            return sum(1 for _key, value, kept in rows if kept != value)
        return int(connection.execute(_statements(item)[1], {"customer": customer_id}).scalar_one())
