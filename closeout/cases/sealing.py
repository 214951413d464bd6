"""The read model's words about a customer: sealed as they are written, opened as they are read.

Which columns hold words is said once, in `closeout/cases/erasure.py` (`FREE_TEXT`); this
module seals those columns of a row under the customer's own data key (closeout/crypto/
words.py) and opens them again for the repository's readers, and does the same for the free
text of the audit events of the customer's cases. Destroying the key at deletion makes every
copy the database still keeps of a row's old versions unreadable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel

from closeout.audit import chain
from closeout.audit.chain import Content
from closeout.audit.models import AuditEvent
from closeout.cases.erasure import FREE_TEXT, FreeText
from closeout.cases.models import CaseRecord
from closeout.contracts import AuditEntry
from closeout.crypto.data_keys import OUTBOX_SCOPE, WORDS_SCOPE, DataKeys, KeyDestroyed
from closeout.crypto.words import Opener, Words, has_words
from closeout.db import Database, table_of

R = TypeVar("R", bound=SQLModel)

_BY_TABLE: dict[str, list[FreeText]] = defaultdict(list)
for _item in FREE_TEXT:
    _BY_TABLE[_item.table.name].append(_item)


class SealedWords:
    """Seals and opens the listed columns of the read model's rows."""

    def __init__(self, keys: DataKeys) -> None:
        self.keys = keys
        self._words = {WORDS_SCOPE: Words(keys), OUTBOX_SCOPE: Words(keys, OUTBOX_SCOPE)}

    # ---------------------------------------------------------------- writing

    def seal(self, table: str, customer_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """`values` of a row of `table` with its listed columns sealed."""
        sealed = dict(values)
        for item in _BY_TABLE.get(table, ()):
            if item.column in sealed and sealed[item.column] is not None:
                words = self._words[item.scope]
                value = sealed[item.column]
                sealed[item.column] = (
                    words.seal_json(customer_id, value)
                    if item.json
                    else words.seal(customer_id, value)
                )
        return sealed

    def text(self, customer_id: str, text: str | None) -> str | None:
        return self._words[WORDS_SCOPE].seal(customer_id, text)

    def audit(
        self, customer_id: str, reason: str | None, details: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any]]:
        """What an audit event of the customer's case keeps of its reason and details."""
        words = self._words[WORDS_SCOPE]
        return words.seal(customer_id, reason), words.seal_json(customer_id, details)

    def destroy_outbox_key(self, customer_id: str) -> int:
        """The outbox's last message for the customer is gone: so are its addresses' key."""
        return self.keys.destroy(customer_id, OUTBOX_SCOPE)

    # ---------------------------------------------------------------- reading

    def open(self, records: Sequence[R]) -> Sequence[R]:
        """The records, their listed columns opened in place (records read outside any open
        session: nothing opened is ever written back). A destroyed key reads as erased."""
        openers: dict[str, Opener] = {}
        for scope, words in self._words.items():
            opener = words.opener()
            opener.look_up(
                getattr(r, item.column)
                for r in records
                for item in _BY_TABLE.get(_table(r), ())
                if item.scope == scope
            )
            openers[scope] = opener
        for record in records:
            for item in _BY_TABLE.get(_table(record), ()):
                value = getattr(record, item.column)
                if value is not None:
                    opened = openers[item.scope].open(value)
                    setattr(record, item.column, item.blank if opened is None else opened)
        return records

    def open_one(self, record: R | None) -> R | None:
        return None if record is None else self.open([record])[0]

    def open_events(self, events: Iterable[AuditEvent]) -> list[AuditEvent]:
        """Audit events with their reasons and details opened in place."""
        events = list(events)
        opener = self.events_opener(events)
        for event in events:
            event.reason, event.details = opener(event.reason, event.details)
        return events

    def events_opener(self, events: Iterable[AuditEvent] = ()) -> Content:
        """Opens audit events' reasons and details, for a walk over many of them."""
        opener = self._words[WORDS_SCOPE].opener()
        opener.look_up(v for e in events for v in (e.reason, e.details))

        def open_content(
            reason: str | None, details: dict[str, Any]
        ) -> tuple[str | None, dict[str, Any]]:
            return opener.text(reason), opener.json(details) or {}

        return open_content


def _table(record: SQLModel) -> str:
    return str(record.__tablename__)


_CASES = table_of(CaseRecord)
_CASE_CUSTOMER = sa_select(_CASES.c.customer_id).where(_CASES.c.id == bindparam("key"))


class SealedAudit:
    """The audit events of a customer's case, their free text sealed under the customer's key."""

    db: Database
    sealed: SealedWords

    def _customer_of(self, case_id: str | None) -> str | None:
        if case_id is None:
            return None
        with self.db.transaction() as connection:
            found = connection.execute(_CASE_CUSTOMER, {"key": case_id}).scalar()
        return None if found is None else str(found)

    def _stored_audit(
        self, case_id: str | None, entry: AuditEntry, customer_id: str | None = None
    ) -> tuple[str | None, dict[str, Any]] | None:
        """What the event keeps of its reason and details: sealed under the customer's key
        when it holds words about a case of theirs; None to keep them as they are."""
        details = chain.canonical_details(entry.details)
        if not entry.reason and not has_words(details):
            return None
        customer = customer_id or self._customer_of(case_id)
        if customer is None:
            return None
        try:
            return self.sealed.audit(customer, entry.reason, details)
        except KeyDestroyed:
            # After the deletion only the process itself records anything of the case (its
            # certificate, the confirmation sent, the case closed, in words of its own): kept
            # as it is. The verification scans the case's events for words before it certifies.
            return None
