"""The suppression ledger: keyed hashes of deleted customers' ids, append-only and chained.

It lives outside the database on purpose: restoring an older database copy brings the
customer's rows back, but not their absence from the ledger. Nothing in it is personal
data: an entry is a keyed hash of the customer id, the id of the master key it was keyed
under, the case id and a time. Its key comes from the master keys, not from the secret key,
so rotating the secret key forgets no one. The chain's rules are in `chain.py`; this module
keeps the ledger in a file, `object_ledger.py` in an object store with Object Lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from closeout.crypto.purpose_keys import RecordKeys
from closeout.settings import Settings
from closeout.storage.settings import LedgerStore
from closeout.suppression.chain import ChainedLedger, Entry, Seen


class SuppressionLedger(Protocol):
    def suppress(self, customer_id: str, case_id: str, at: datetime) -> bool: ...

    def is_suppressed(self, customer_id: str) -> bool: ...

    def refs(self) -> frozenset[str]: ...

    def ref(self, customer_id: str) -> str: ...

    def refs_of(self, customer_id: str) -> frozenset[str]: ...


@dataclass(frozen=True)
class _FileSeen:
    """What has been read of the file so far: it only ever grows, so later reads resume here."""

    inode: int = -1
    offset: int = 0
    mtime_ns: int = -1
    entries: Seen = field(default_factory=Seen)


class FileSuppressionLedger(ChainedLedger):
    """JSON lines in one file, each chained to the one before; appends are locked and synced.

    Lookups and appends read only the lines added since the last look (any other change to
    the file — a rewrite, a truncation — makes the next look read it whole), so their cost
    does not grow with the number of customers the ledger names.
    """

    def __init__(self, path: Path, keys: RecordKeys) -> None:
        super().__init__(keys)
        self.path = path
        self._seen = _FileSeen()
        self._mutex = threading.Lock()

    def entries(self) -> list[Entry]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def _catch_up(self, fh: IO[bytes]) -> Seen:
        """Bring what was read up to the file's end (whole lines only); the caller holds _mutex."""
        stat = os.fstat(fh.fileno())
        seen = self._seen
        if (stat.st_ino, stat.st_size, stat.st_mtime_ns) == (
            seen.inode,
            seen.offset,
            seen.mtime_ns,
        ):
            return seen.entries
        if stat.st_ino != seen.inode or stat.st_size <= seen.offset:
            seen = _FileSeen(inode=stat.st_ino)  # rewritten, not appended to: read it whole
        fh.seek(seen.offset)
        chunk = fh.read(stat.st_size - seen.offset)
        complete = chunk[: chunk.rfind(b"\n") + 1]  # an append in progress is read next time
        entries = [json.loads(line) for line in complete.splitlines() if line.strip()]
        self._seen = _FileSeen(
            inode=stat.st_ino,
            offset=seen.offset + len(complete),
            mtime_ns=stat.st_mtime_ns,
            entries=seen.entries.after(entries),
        )
        return self._seen.entries

    def refs(self) -> frozenset[str]:
        """Every suppressed reference."""
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return frozenset()
        with fh, self._mutex:
            return self._catch_up(fh).refs

    def _append(
        self, customer_id: str, case_id: str, at: datetime, unless_named: bool = False
    ) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab+") as fh, self._mutex:
            fcntl.flock(fh, fcntl.LOCK_EX)
            entry = self._next_entry(self._catch_up(fh), customer_id, case_id, at, unless_named)
            if entry is None:
                return False
            fh.write((json.dumps(entry, sort_keys=True) + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())
            self._catch_up(fh)
        return True


def ledger_from(settings: Settings) -> ChainedLedger:
    """The suppression ledger the settings name: the one place it is built."""
    if settings.suppression_ledger_store is LedgerStore.S3:
        # boto3 is loaded only by processes whose settings choose object storage.
        from closeout.suppression.object_ledger import object_ledger_from

        return object_ledger_from(settings)
    return FileSuppressionLedger(settings.suppression_ledger_path, settings.record_keys())
