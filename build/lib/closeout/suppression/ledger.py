"""The suppression ledger: keyed hashes of deleted customers' ids, append-only and chained.

It lives outside the database on purpose: restoring an older database copy brings the
customer's rows back, but not their absence from the ledger. Nothing in it is personal
data: an entry is a keyed hash of the customer id, the id of the master key it was keyed
under, the case id and a time. Its key comes from the master keys, not from the secret key,
so rotating the secret key forgets no one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from closeout.crypto.purpose_keys import RecordKeys
from closeout.settings import Settings

GENESIS = "0" * 64


class SuppressionLedger(Protocol):
    def suppress(self, customer_id: str, case_id: str, at: datetime) -> bool: ...

    def is_suppressed(self, customer_id: str) -> bool: ...

    def refs(self) -> frozenset[str]: ...

    def ref(self, customer_id: str) -> str: ...

    def refs_of(self, customer_id: str) -> frozenset[str]: ...


@dataclass(frozen=True)
class LedgerCheck:
    entries: int
    first_bad_line: int | None


def _entry_hash(prev: str, ref: str, case_id: str, at: str, key_id: str | None = None) -> str:
    # Entries from before key ids were recorded hash without one.
    named = ref if key_id is None else f"{key_id}:{ref}"
    return hashlib.sha256(f"{prev}|{named}|{case_id}|{at}".encode()).hexdigest()


def _qualified(entry: dict[str, str]) -> str:
    """The reference as lookups compare it: prefixed by its key id, when it has one."""
    key_id = entry.get("key_id")
    return entry["ref"] if key_id is None else f"{key_id}:{entry['ref']}"


@dataclass
class _Seen:
    """What has been read of the file so far: it only ever grows, so later reads resume here."""

    inode: int = -1
    offset: int = 0
    mtime_ns: int = -1
    refs: frozenset[str] = frozenset()
    last_hash: str = GENESIS


class FileSuppressionLedger:
    """JSON lines in one file, each chained to the one before; appends are locked and synced.

    Lookups and appends read only the lines added since the last look (any other change to
    the file — a rewrite, a truncation — makes the next look read it whole), so their cost
    does not grow with the number of customers the ledger names.
    """

    def __init__(self, path: Path, keys: RecordKeys) -> None:
        self.path = path
        self._keys = keys
        self._seen = _Seen()
        self._mutex = threading.Lock()

    def ref(self, customer_id: str) -> str:
        """The reference a new entry names the customer by (under the current key)."""
        return f"{self._keys.current_id}:{self._keys.customer_ref(customer_id)}"

    def refs_of(self, customer_id: str) -> frozenset[str]:
        """Every reference an entry may name the customer by: one per configured key."""
        refs = {f"{k}:{self._keys.customer_ref(customer_id, k)}" for k in self._keys.roots}
        legacy = self._keys.legacy_customer_ref(customer_id)
        return frozenset(refs | {legacy} if legacy else refs)

    def _lines(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def _catch_up(self, fh: IO[bytes]) -> _Seen:
        """Bring what was read up to the file's end (whole lines only); the caller holds _mutex."""
        stat = os.fstat(fh.fileno())
        seen = self._seen
        if (stat.st_ino, stat.st_size, stat.st_mtime_ns) == (
            seen.inode,
            seen.offset,
            seen.mtime_ns,
        ):
            return seen
        if stat.st_ino != seen.inode or stat.st_size <= seen.offset:
            seen = _Seen(inode=stat.st_ino)  # rewritten, not appended to: read it whole
        fh.seek(seen.offset)
        chunk = fh.read(stat.st_size - seen.offset)
        complete = chunk[: chunk.rfind(b"\n") + 1]  # an append in progress is read next time
        entries = [json.loads(line) for line in complete.splitlines() if line.strip()]
        self._seen = _Seen(
            inode=stat.st_ino,
            offset=seen.offset + len(complete),
            mtime_ns=stat.st_mtime_ns,
            refs=seen.refs | {_qualified(e) for e in entries} if entries else seen.refs,
            last_hash=entries[-1]["hash"] if entries else seen.last_hash,
        )
        return self._seen

    def refs(self) -> frozenset[str]:
        """Every suppressed reference."""
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return frozenset()
        with fh, self._mutex:
            return self._catch_up(fh).refs

    def is_suppressed(self, customer_id: str) -> bool:
        return not self.refs_of(customer_id).isdisjoint(self.refs())

    def suppress(self, customer_id: str, case_id: str, at: datetime) -> bool:
        """Name a deleted customer; False when the ledger already did (idempotent)."""
        return self._append(customer_id, case_id, at, unless_named=True)

    def _append(
        self, customer_id: str, case_id: str, at: datetime, unless_named: bool = False
    ) -> bool:
        key_id = self._keys.current_id
        ref = self._keys.customer_ref(customer_id, key_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab+") as fh, self._mutex:
            fcntl.flock(fh, fcntl.LOCK_EX)
            seen = self._catch_up(fh)
            named = self.refs_of(customer_id) if unless_named else {f"{key_id}:{ref}"}
            if not named.isdisjoint(seen.refs):
                return False
            stamp = at.isoformat(timespec="seconds")
            entry = {
                "ref": ref,
                "key_id": key_id,
                "case_id": case_id,
                "at": stamp,
                "prev": seen.last_hash,
                "hash": _entry_hash(seen.last_hash, ref, case_id, stamp, key_id),
            }
            fh.write((json.dumps(entry, sort_keys=True) + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())
            self._catch_up(fh)
        return True

    def rekey(self, customer_id: str, case_id: str, at: datetime) -> bool:
        """Name a customer the ledger knows only by the secret key's old reference again,
        under the current master key (so that key can be rotated); False if nothing to do."""
        legacy = self._keys.legacy_customer_ref(customer_id)
        if legacy is None or legacy not in self.refs():
            return False
        current = f"{self._keys.current_id}:{self._keys.customer_ref(customer_id)}"
        if current in self.refs():
            return False
        self._append(customer_id, case_id, at)
        return True

    def check(self) -> LedgerCheck:
        """Walk the chain; the first line (1-based) that was changed or removed around."""
        prev = GENESIS
        entries = self._lines()
        for n, e in enumerate(entries, start=1):
            if e.get("prev") != prev or e.get("hash") != _entry_hash(
                prev, e["ref"], e["case_id"], e["at"], e.get("key_id")
            ):
                return LedgerCheck(len(entries), n)
            prev = e["hash"]
        return LedgerCheck(len(entries), None)


def ledger_from(settings: Settings) -> FileSuppressionLedger:
    return FileSuppressionLedger(settings.suppression_ledger_path, settings.record_keys())
