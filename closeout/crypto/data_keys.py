"""Per-customer data keys: created once, unwrapped on use, re-wrapped on rotation, destroyed."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from closeout.crypto.keyring import KEY_BYTES, KeyRing, WrappedKey
from closeout.crypto.models import DataKeyRecord
from closeout.db import Database, table_of

ARCHIVE_SCOPE = "archive"
# The key of a customer's case history in Temporal (closeout/crypto/history_cipher.py): it
# outlives the deletion of their data until their case workflow has closed, so it is left out
# of "all the customer's keys" and destroyed on its own.
HISTORY_SCOPE = "history"
# The key of the words the read model holds about a customer (closeout/crypto/words.py):
# notes, comments, reasons, evidence in their words, the audit's free text of their cases.
WORDS_SCOPE = "words"
# The key of the outbox's addresses and of a message written ahead of the deletion: it
# outlives the deletion until that last message is sent, then goes (closeout/cases/outbox.py).
OUTBOX_SCOPE = "outbox"
# Keys destroyed on their own, not with "all the customer's keys".
_OWN_TIME = (HISTORY_SCOPE, OUTBOX_SCOPE)
# Keys never made again once destroyed: they go with the customer's deletion, for good.
_FOR_GOOD = (WORDS_SCOPE, HISTORY_SCOPE)


class KeyDestroyed(Exception):
    """The customer's data key was destroyed: what it sealed can no longer be read."""


@dataclass(frozen=True)
class RotationResult:
    rewrapped: int
    already_current: int


# Built once: every backup, verification and deletion looks a key up.
_KEYS = table_of(DataKeyRecord)
_OF_CUSTOMER = _KEYS.c.customer_id == bindparam("customer")
_IN_SCOPE = _KEYS.c.scope == bindparam("in_scope")
_RECORD = sa_select(_KEYS).where(_OF_CUSTOMER, _IN_SCOPE)
_LIVE = sa_select(func.count()).select_from(_KEYS).where(_OF_CUSTOMER, _KEYS.c.wrapped.is_not(None))
_LIVE_SCOPE = _LIVE.where(_IN_SCOPE)
_DESTROY = (
    update(_KEYS)
    .where(_OF_CUSTOMER, _KEYS.c.destroyed_at.is_(None))
    .values(wrapped=None, master_key_id=None, destroyed_at=bindparam("now"))
)
_DESTROY_SCOPE = _DESTROY.where(_IN_SCOPE)
_NOT_OWN_TIME = _KEYS.c.scope.not_in(_OWN_TIME)


def _context(record: DataKeyRecord) -> bytes:
    return f"closeout-data-key:{record.id}:{record.customer_id}:{record.scope}".encode()


class DataKeys:
    def __init__(self, db: Database, ring: KeyRing) -> None:
        self.db = db
        self.ring = ring

    def _record(self, customer_id: str, scope: str) -> DataKeyRecord | None:
        with self.db.transaction() as connection:
            found = connection.execute(
                _RECORD, {"customer": customer_id, "in_scope": scope}
            ).first()
        return None if found is None else DataKeyRecord.model_validate(found._mapping)

    def _unwrap(self, record: DataKeyRecord) -> bytes:
        if record.wrapped is None or record.master_key_id is None:
            raise KeyDestroyed(f"the data key of customer {record.customer_id!r} was destroyed")
        wrapped = WrappedKey(record.master_key_id, base64.b64decode(record.wrapped))
        return self.ring.unwrap(wrapped, _context(record))

    def key(self, customer_id: str, scope: str = ARCHIVE_SCOPE) -> bytes:
        """The customer's data key for `scope` (KeyDestroyed once it was destroyed)."""
        record = self._record(customer_id, scope)
        if record is None:
            raise KeyDestroyed(f"customer {customer_id!r} has no data key")
        return self._unwrap(record)

    def key_or_create(self, customer_id: str, scope: str = ARCHIVE_SCOPE) -> bytes:
        """The customer's data key, created on first use (two creators agree on one).

        A destroyed key stays destroyed (KeyDestroyed) once the customer is deleted for good
        (their words key destroyed, see `destroy`), and the keys of words and case histories
        always do. Any other destroyed key (a backup's, a category's, the outbox's) of a
        customer still here is renewed: one reactivated after part of their data went can be
        closed again, and that case needs keys of its own; what the old key sealed stays
        unreadable."""
        record = self._record(customer_id, scope)
        if (
            record is not None
            and record.wrapped is None
            and scope not in _FOR_GOOD
            and not self._gone(customer_id)
        ):
            return self._renew(record)
        if record is not None:
            return self._unwrap(record)
        if self._gone(customer_id):  # (a words key, had they one, was found above)
            raise KeyDestroyed(f"customer {customer_id!r} was deleted: no key is made again")
        record = DataKeyRecord(
            id=str(uuid.uuid4()),
            customer_id=customer_id,
            scope=scope,
            created_at=datetime.now(UTC),
        )
        key = os.urandom(KEY_BYTES)
        wrapped = self.ring.wrap(key, _context(record))
        record.master_key_id = wrapped.master_key_id
        record.wrapped = base64.b64encode(wrapped.blob).decode()
        try:
            with self.db.transaction() as connection:
                connection.execute(insert(_KEYS), record.model_dump())
        except IntegrityError:
            return self.key(customer_id, scope)  # another attempt created it first: use theirs
        return key

    def _renew(self, record: DataKeyRecord) -> bytes:
        """A new key in a destroyed key's row (the first of two renewers wins; both use it)."""
        key = os.urandom(KEY_BYTES)
        renewed = DataKeyRecord.model_validate(
            {**record.model_dump(), "created_at": datetime.now(UTC), "destroyed_at": None}
        )
        wrapped = self.ring.wrap(key, _context(renewed))
        with self.db.transaction() as connection:
            won = connection.execute(
                update(_KEYS)
                .where(_KEYS.c.id == record.id, _KEYS.c.wrapped.is_(None))
                .values(
                    wrapped=base64.b64encode(wrapped.blob).decode(),
                    master_key_id=wrapped.master_key_id,
                    created_at=renewed.created_at,
                    destroyed_at=None,
                )
            ).rowcount
        return key if won else self.key(record.customer_id, record.scope)

    def destroy(self, customer_id: str, scope: str | None = None) -> int:
        """Destroy the customer's data keys, of one scope or all but the history's
        (crypto-shredding); how many were live."""
        now = datetime.now(UTC)
        values = {"customer": customer_id, "now": now}
        statement = _DESTROY.where(_NOT_OWN_TIME)
        if scope is not None:
            statement, values["in_scope"] = _DESTROY_SCOPE, scope
        with self.db.transaction() as connection:
            destroyed = int(connection.execute(statement, values).rowcount)
        if scope is None:
            self._mark_gone(customer_id, now)
        return destroyed

    def _mark_gone(self, customer_id: str, at: datetime) -> None:
        """The customer is deleted for good: their words key is destroyed, made destroyed
        if they never had one, so that no key of theirs is ever made or renewed again."""
        tombstone = DataKeyRecord(
            id=str(uuid.uuid4()), customer_id=customer_id, scope=WORDS_SCOPE,
            created_at=at, destroyed_at=at,
        )  # fmt: skip
        try:
            with self.db.transaction() as connection:
                connection.execute(insert(_KEYS), tombstone.model_dump())
        except IntegrityError:
            pass  # they had one: destroyed above

    def _gone(self, customer_id: str) -> bool:
        found = self._record(customer_id, WORDS_SCOPE)
        return found is not None and found.wrapped is None

    def keys_of(self, customer_ids: Sequence[str], scope: str) -> dict[str, bytes | None]:
        """The live keys of `scope` of several customers, looked up at once; None for a
        customer whose key was destroyed or never made."""
        found: dict[str, bytes | None] = dict.fromkeys(customer_ids)
        if not customer_ids:
            return found
        with self.db.transaction() as connection:
            rows = connection.execute(
                sa_select(_KEYS).where(
                    _KEYS.c.customer_id.in_(list(customer_ids)), _KEYS.c.scope == scope
                )
            ).all()
        for row in rows:
            record = DataKeyRecord.model_validate(row._mapping)
            if record.wrapped is not None:
                found[record.customer_id] = self._unwrap(record)
        return found

    def existed(self, customer_id: str, scope: str) -> bool:
        """Whether the customer ever had a key of `scope` (destroyed ones included)."""
        return self._record(customer_id, scope) is not None

    def live(self, customer_id: str, scope: str | None = None) -> int:
        """How many data keys of the customer (of one scope, else all but the history's) can
        still unseal something."""
        statement, values = _LIVE.where(_NOT_OWN_TIME), {"customer": customer_id}
        if scope is not None:
            statement, values["in_scope"] = _LIVE_SCOPE, scope
        with self.db.transaction() as connection:
            return int(connection.execute(statement, values).one()[0])

    def customers_with_live_keys(self, scope: str | None = None) -> list[str]:
        """Customers with a live key (of one scope, else of any but the history's)."""
        query = select(DataKeyRecord.customer_id).where(col(DataKeyRecord.wrapped).is_not(None))
        if scope is None:
            query = query.where(col(DataKeyRecord.scope).not_in(_OWN_TIME))
        else:
            query = query.where(DataKeyRecord.scope == scope)
        with self.db.session() as session:
            return list(session.exec(query.distinct()).all())

    def rotate(self, batch: int = 500) -> RotationResult:
        """Re-wrap every live data key under the ring's current master key.

        The sealed bundles are not touched: only the small wrapped keys change.
        """
        current = self.ring.current_key_id
        rewrapped = already = 0
        last_id = ""
        while True:
            with self.db.session() as session:
                records = session.exec(
                    select(DataKeyRecord)
                    .where(col(DataKeyRecord.wrapped).is_not(None), DataKeyRecord.id > last_id)
                    .order_by(col(DataKeyRecord.id))
                    .limit(batch)
                ).all()
                for record in records:
                    if record.master_key_id == current:
                        already += 1
                        continue
                    data_key = self._unwrap(record)
                    wrapped = self.ring.wrap(data_key, _context(record))
                    record.master_key_id = wrapped.master_key_id
                    record.wrapped = base64.b64encode(wrapped.blob).decode()
                    record.rewrapped_at = datetime.now(UTC)
                    session.add(record)
                    rewrapped += 1
            if len(records) < batch:
                return RotationResult(rewrapped, already)
            last_id = records[-1].id
