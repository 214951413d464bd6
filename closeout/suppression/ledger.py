"""The suppression ledger: keyed hashes of deleted customers' ids, append-only and chained.

It lives outside the database on purpose: restoring an older database copy brings the
customer's rows back, but not their absence from the ledger. Nothing in it is personal
data: an entry is a keyed hash of the customer id, the case id and a time.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from closeout.crypto.keyring import customer_ref
from closeout.settings import Settings

GENESIS = "0" * 64


class SuppressionLedger(Protocol):
    def suppress(self, customer_id: str, case_id: str, at: datetime) -> bool: ...

    def is_suppressed(self, customer_id: str) -> bool: ...

    def refs(self) -> frozenset[str]: ...

    def ref(self, customer_id: str) -> str: ...


@dataclass(frozen=True)
class LedgerCheck:
    entries: int
    first_bad_line: int | None


def _entry_hash(prev: str, ref: str, case_id: str, at: str) -> str:
    return hashlib.sha256(f"{prev}|{ref}|{case_id}|{at}".encode()).hexdigest()


class FileSuppressionLedger:
    """JSON lines in one file, each chained to the one before; appends are locked and synced."""

    def __init__(self, path: Path, secret: str) -> None:
        self.path = path
        self._secret = secret
        self._cache: tuple[tuple[int, int], frozenset[str]] | None = None

    def ref(self, customer_id: str) -> str:
        return customer_ref(self._secret, customer_id)

    def _lines(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def refs(self) -> frozenset[str]:
        """Every suppressed reference (re-read only when the file changed)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return frozenset()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, frozenset(e["ref"] for e in self._lines()))
        return self._cache[1]

    def is_suppressed(self, customer_id: str) -> bool:
        return self.ref(customer_id) in self.refs()

    def suppress(self, customer_id: str, case_id: str, at: datetime) -> bool:
        """Name a deleted customer; False when the ledger already did (idempotent)."""
        ref = self.ref(customer_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            entries = [json.loads(line) for line in fh if line.strip()]
            if any(e["ref"] == ref for e in entries):
                return False
            prev = entries[-1]["hash"] if entries else GENESIS
            stamp = at.isoformat(timespec="seconds")
            entry = {
                "ref": ref,
                "case_id": case_id,
                "at": stamp,
                "prev": prev,
                "hash": _entry_hash(prev, ref, case_id, stamp),
            }
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def check(self) -> LedgerCheck:
        """Walk the chain; the first line (1-based) that was changed or removed around."""
        prev = GENESIS
        entries = self._lines()
        for n, e in enumerate(entries, start=1):
            if e.get("prev") != prev or e.get("hash") != _entry_hash(
                prev, e["ref"], e["case_id"], e["at"]
            ):
                return LedgerCheck(len(entries), n)
            prev = e["hash"]
        return LedgerCheck(len(entries), None)


def ledger_from(settings: Settings) -> FileSuppressionLedger:
    return FileSuppressionLedger(settings.suppression_ledger_path, settings.secret_key)
