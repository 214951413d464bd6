"""The suppression ledger's rules, whatever holds its entries: how entries chain, how they name
a customer, when a new one is written and how the chain is checked.

An entry is a dict of strings: `ref` (a keyed hash of the customer id), `key_id` (the master
key it was keyed under; absent in entries from before key ids were recorded), `case_id`, `at`,
`prev` (the hash of the entry before it, GENESIS for the first) and `hash`.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from closeout.crypto.purpose_keys import RecordKeys

GENESIS = "0" * 64

Entry = dict[str, str]


@dataclass(frozen=True)
class LedgerCheck:
    entries: int
    # 1-based: the line of the file, or the sequence number of the object.
    first_bad_line: int | None


def entry_hash(prev: str, ref: str, case_id: str, at: str, key_id: str | None = None) -> str:
    # Entries from before key ids were recorded hash without one.
    named = ref if key_id is None else f"{key_id}:{ref}"
    return hashlib.sha256(f"{prev}|{named}|{case_id}|{at}".encode()).hexdigest()


def qualified(entry: Entry) -> str:
    """The reference as lookups compare it: prefixed by its key id, when it has one."""
    key_id = entry.get("key_id")
    return entry["ref"] if key_id is None else f"{key_id}:{entry['ref']}"


def first_bad(entries: list[Entry]) -> LedgerCheck:
    """Walk the chain: the first entry (1-based) that was changed, or removed from before it."""
    prev = GENESIS
    for n, e in enumerate(entries, start=1):
        if e.get("prev") != prev or e.get("hash") != entry_hash(
            prev, e["ref"], e["case_id"], e["at"], e.get("key_id")
        ):
            return LedgerCheck(len(entries), n)
        prev = e["hash"]
    return LedgerCheck(len(entries), None)


@dataclass(frozen=True)
class Seen:
    """What a ledger instance has read so far: entries are only ever added after it."""

    refs: frozenset[str] = frozenset()
    last_hash: str = GENESIS

    def after(self, entries: list[Entry]) -> Seen:
        if not entries:
            return self
        return Seen(self.refs | {qualified(e) for e in entries}, entries[-1]["hash"])


class ChainedLedger(ABC):
    """Suppression, rekeying and lookups, one implementation for every place entries live.

    A subclass says how entries are read (`refs`, `entries`) and appended (`_append`), which
    calls `_next_entry` once it has caught up, under whatever makes the append exclusive.
    """

    def __init__(self, keys: RecordKeys) -> None:
        self._keys = keys

    def ref(self, customer_id: str) -> str:
        """The reference a new entry names the customer by (under the current key)."""
        return f"{self._keys.current_id}:{self._keys.customer_ref(customer_id)}"

    def refs_of(self, customer_id: str) -> frozenset[str]:
        """Every reference an entry may name the customer by: one per configured key."""
        refs = {f"{k}:{self._keys.customer_ref(customer_id, k)}" for k in self._keys.roots}
        legacy = self._keys.legacy_customer_ref(customer_id)
        return frozenset(refs | {legacy} if legacy else refs)

    @abstractmethod
    def refs(self) -> frozenset[str]:
        """Every suppressed reference."""

    @abstractmethod
    def entries(self) -> list[Entry]:
        """Every entry, in chain order, read afresh."""

    @abstractmethod
    def _append(
        self, customer_id: str, case_id: str, at: datetime, unless_named: bool = False
    ) -> bool:
        """Write `_next_entry`'s entry after the last one; False when it returned None."""

    def is_suppressed(self, customer_id: str) -> bool:
        return not self.refs_of(customer_id).isdisjoint(self.refs())

    def suppress(self, customer_id: str, case_id: str, at: datetime) -> bool:
        """Name a deleted customer; False when the ledger already did (idempotent)."""
        return self._append(customer_id, case_id, at, unless_named=True)

    def _next_entry(
        self, seen: Seen, customer_id: str, case_id: str, at: datetime, unless_named: bool
    ) -> Entry | None:
        """The entry that names the customer after what was seen; None if one already does
        (by any key's reference when `unless_named`, else by the current key's)."""
        key_id = self._keys.current_id
        ref = self._keys.customer_ref(customer_id, key_id)
        named = self.refs_of(customer_id) if unless_named else {f"{key_id}:{ref}"}
        if not named.isdisjoint(seen.refs):
            return None
        stamp = at.isoformat(timespec="seconds")
        return {
            "ref": ref,
            "key_id": key_id,
            "case_id": case_id,
            "at": stamp,
            "prev": seen.last_hash,
            "hash": entry_hash(seen.last_hash, ref, case_id, stamp, key_id),
        }

    def rekey(self, customer_id: str, case_id: str, at: datetime) -> bool:
        """Name a customer the ledger knows only by the secret key's old reference again,
        under the current master key (so that key can be rotated); False if nothing to do."""
        legacy = self._keys.legacy_customer_ref(customer_id)
        if legacy is None or legacy not in self.refs():
            return False
        return self._append(customer_id, case_id, at)

    def check(self) -> LedgerCheck:
        """Walk the chain; the first entry (1-based) that was changed or removed around."""
        return first_bad(self.entries())
