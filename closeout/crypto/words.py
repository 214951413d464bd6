"""A customer's words in the read model, sealed under a data key of their own.

Deletion erases these columns, but a database keeps what a row held before: PostgreSQL in dead
tuples and WAL segments until vacuum and recycling overwrite them, SQLite in free pages unless
told otherwise. Sealed, what stays behind is ciphertext whose key the deletion destroyed.

A sealed text reads `sealed:1:<customer id>:<base64>` (the customer's id is an identifier, not
their words: it names the key and binds the ciphertext to them). A JSON value keeps its
identifiers, dates and numbers in the clear, for queries and for what remains after deletion,
and carries the whole value sealed under `_sealed`. Text written before sealing reads as it is.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from closeout.audit.chain import non_personal
from closeout.crypto.data_keys import OUTBOX_SCOPE, WORDS_SCOPE, DataKeys
from closeout.crypto.envelope import MAGIC, Unreadable, open_sealed, seal

PREFIX = "sealed:1:"
JSON_FIELD = "_sealed"

__all__ = ["JSON_FIELD", "OUTBOX_SCOPE", "PREFIX", "WORDS_SCOPE", "Opener", "Words", "is_sealed"]


def _context(customer_id: str, scope: str) -> bytes:
    return f"closeout-words:{scope}:{customer_id}".encode()


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def customer_of(value: Any) -> str | None:
    """The customer a sealed text or JSON value belongs to (None for plain values)."""
    if isinstance(value, dict):
        value = value.get(JSON_FIELD)
    if not is_sealed(value):
        return None
    customer, _sep, _body = value.removeprefix(PREFIX).rpartition(":")
    return customer or None


def has_words(value: dict[str, Any]) -> bool:
    return non_personal(value) != value


class Words:
    """Seals a customer's words as they are written; opens them for the people who may read
    them, until the customer's key is destroyed."""

    def __init__(self, keys: DataKeys, scope: str = WORDS_SCOPE) -> None:
        self.keys = keys
        self.scope = scope

    def seal(self, customer_id: str, text: str | None) -> str | None:
        """The text sealed (None and '' stay as they are); KeyDestroyed once the customer's
        words were shredded: nothing new of theirs is written after their deletion."""
        if not text:
            return text  # (text that merely looks sealed is sealed all the same)
        key = self.keys.key_or_create(customer_id, self.scope)
        blob = seal(key, text.encode(), _context(customer_id, self.scope))
        body = base64.b64encode(blob[len(MAGIC) :]).decode()
        return f"{PREFIX}{customer_id}:{body}"

    def seal_json(self, customer_id: str, value: dict[str, Any]) -> dict[str, Any]:
        """Identifiers, dates and numbers in the clear; the whole value sealed beside them.
        A value without words is stored as it is (no key is made for it)."""
        if JSON_FIELD in value or not has_words(value):
            return value
        whole = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
        return {**non_personal(value), JSON_FIELD: self.seal(customer_id, whole)}

    def opener(self, values: Iterable[Any] = ()) -> Opener:
        """Opens sealed values (text or JSON); the keys of the customers among `values` are
        looked up at once, any other customer's on first use."""
        opener = Opener(self.keys, self.scope)
        opener.look_up(values)
        return opener

    def open(self, value: Any) -> Any:
        return self.opener([value]).open(value)


class Opener:
    """Opens sealed values, each customer's key looked up once; a destroyed key reads as
    erased (None for text, the clear part for JSON). Lives for one request or one walk."""

    def __init__(self, keys: DataKeys, scope: str) -> None:
        self.keys = keys
        self.scope = scope
        self._keys: dict[str, bytes | None] = {}

    def look_up(self, values: Iterable[Any]) -> None:
        customers = {c for c in (customer_of(v) for v in values) if c is not None}
        missing = sorted(customers - self._keys.keys())
        if missing:
            self._keys.update(self.keys.keys_of(missing, self.scope))

    def _key(self, customer: str) -> bytes | None:
        if customer not in self._keys:
            self._keys.update(self.keys.keys_of([customer], self.scope))
        return self._keys[customer]

    def text(self, value: str | None) -> str | None:
        if not is_sealed(value):
            return value
        assert value is not None
        customer, _sep, body = value.removeprefix(PREFIX).rpartition(":")
        key = self._key(customer)
        if key is None:
            return None
        try:
            blob = MAGIC + base64.b64decode(body, validate=True)
            return open_sealed(key, blob, _context(customer, self.scope)).decode()
        except (binascii.Error, Unreadable, UnicodeDecodeError):
            return None  # damaged or moved to another customer's row: shown as nothing

    def json(self, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if not isinstance(value, dict) or JSON_FIELD not in value:
            return value
        clear = {k: v for k, v in value.items() if k != JSON_FIELD}
        opened = self.text(value[JSON_FIELD])
        if opened is None:
            return clear
        whole = json.loads(opened)
        return whole if isinstance(whole, dict) else clear

    def open(self, value: Any) -> Any:
        return self.json(value) if isinstance(value, dict) else self.text(value)
