"""The suppression ledger's contract, on the file and on an Object Lock bucket (a real S3
endpoint): named once, chained, shared by every instance, checked; then the file's own rules."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pytest

from closeout.crypto.keyring import customer_ref
from closeout.crypto.purpose_keys import RecordKeys
from closeout.suppression.chain import GENESIS, ChainedLedger, Entry, LedgerCheck
from closeout.suppression.ledger import FileSuppressionLedger
from closeout.suppression.object_ledger import S3SuppressionLedger
from tests.s3_server import S3Service

KEYS = RecordKeys({"k1": bytes(range(32))}, "k1")
AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class LedgerPlace(Protocol):
    """Where a ledger's entries live, and a hand that can write there directly."""

    def ledger(self, keys: RecordKeys = KEYS) -> ChainedLedger: ...

    def write(self, entries: list[Entry]) -> None:
        """Entries as an older version of Closeout would have left them."""

    def alter(self, n: int, entry: Entry) -> None:
        """Replace the n-th entry (1-based), as someone tampering with it would."""


@dataclass
class FilePlace:
    path: Path

    def ledger(self, keys: RecordKeys = KEYS) -> ChainedLedger:
        return FileSuppressionLedger(self.path, keys)

    def write(self, entries: list[Entry]) -> None:
        self.path.write_text("".join(json.dumps(e) + "\n" for e in entries))

    def alter(self, n: int, entry: Entry) -> None:
        lines = self.path.read_text().splitlines()
        lines[n - 1] = json.dumps(entry, sort_keys=True)
        self.path.write_text("\n".join(lines) + "\n")


@dataclass
class BucketPlace:
    s3: S3Service
    bucket: str

    def ledger(self, keys: RecordKeys = KEYS) -> ChainedLedger:
        return S3SuppressionLedger(self.s3.client(), self.bucket, "ledger/", keys, 1)

    def write(self, entries: list[Entry]) -> None:
        for n, entry in enumerate(entries, start=1):
            self.s3.client().put_object(
                Bucket=self.bucket, Key=f"ledger/entries/{n:012d}.json", Body=json.dumps(entry)
            )

    def alter(self, n: int, entry: Entry) -> None:
        # Object Lock keeps the original; a new version of the key is all one can write.
        self.s3.client().put_object(
            Bucket=self.bucket, Key=f"ledger/entries/{n:012d}.json", Body=json.dumps(entry)
        )


@pytest.fixture(params=["file", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerPlace:
    if request.param == "file":
        return FilePlace(tmp_path / "suppression.jsonl")
    s3: S3Service = request.getfixturevalue("s3")
    return BucketPlace(s3, s3.bucket(object_lock=True))


def test_two_ledgers_in_one_place_see_each_others_entries(place: LedgerPlace) -> None:
    """Two workers (two instances, on two hosts) append in turn; each sees the other's."""
    first, second = place.ledger(), place.ledger()
    assert first.refs() == frozenset() and not first.is_suppressed("cust-1")
    assert first.suppress("cust-1", "case-1", AT)
    assert second.is_suppressed("cust-1")
    assert second.suppress("cust-2", "case-2", AT)
    assert not first.suppress("cust-2", "case-2", AT)  # the other instance named it
    assert first.suppress("cust-3", "case-3", AT)
    assert first.refs() == second.refs() == {first.ref(f"cust-{n}") for n in (1, 2, 3)}
    assert first.refs_of("cust-1") == {first.ref("cust-1")}
    check = place.ledger().check()
    assert check.entries == 3 and check.first_bad_line is None


def test_instances_naming_customers_at_once_keep_one_chain(place: LedgerPlace) -> None:
    ledgers = [place.ledger() for _ in range(2)]
    results: list[bool] = []

    def name(n: int) -> None:
        ledger = ledgers[n % 2]
        for i in range(12):
            results.append(ledger.suppress(f"cust-{i}", f"case-{i}", AT))

    threads = [threading.Thread(target=name, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 12 and len(results) == 48
    check = place.ledger().check()
    assert check.entries == 12 and check.first_bad_line is None


def test_an_altered_entry_is_found_by_the_check(place: LedgerPlace) -> None:
    ledger = place.ledger()
    for n in range(3):
        ledger.suppress(f"cust-{n}", f"case-{n}", AT)
    entries = ledger.entries()
    forged = {**entries[1], "ref": KEYS.customer_ref("cust-9")}
    place.alter(2, forged)
    assert place.ledger().check() == LedgerCheck(3, 2)


def test_entries_from_before_key_ids_are_recognised_and_rekeyed(place: LedgerPlace) -> None:
    """A ledger written when the secret key keyed it: read with that secret, chained on, and
    named again under the master key so the secret key can be rotated."""
    ref = customer_ref("the-old-secret", "cust-1")
    stamp = AT.isoformat(timespec="seconds")
    digest = hashlib.sha256(f"{GENESIS}|{ref}|case-1|{stamp}".encode()).hexdigest()
    place.write([{"ref": ref, "case_id": "case-1", "at": stamp, "prev": GENESIS, "hash": digest}])
    legacy = replace(KEYS, legacy_secret="the-old-secret")
    ledger = place.ledger(legacy)
    assert ledger.is_suppressed("cust-1") and not ledger.suppress("cust-1", "case-1", AT)
    assert ledger.suppress("cust-2", "case-2", AT)
    assert not place.ledger().is_suppressed("cust-1")  # without the secret: unknown
    assert ledger.rekey("cust-1", "case-1", AT) is True
    assert ledger.rekey("cust-1", "case-1", AT) is False  # idempotent
    assert ledger.rekey("cust-2", "case-2", AT) is False  # named under a master key already
    assert place.ledger().is_suppressed("cust-1")
    assert place.ledger(legacy).check() == LedgerCheck(3, None)


def test_a_rewritten_file_is_read_again_whole(tmp_path: Path) -> None:
    path = tmp_path / "suppression.jsonl"
    ledger = FileSuppressionLedger(path, KEYS)
    for n in range(3):
        ledger.suppress(f"cust-{n}", f"case-{n}", AT)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1]) + "\n")  # truncated to its first entry
    assert ledger.refs() == {ledger.ref("cust-0")}
    assert ledger.suppress("cust-1", "case-1", AT)  # chained to the entry that is left
    assert ledger.check().first_bad_line is None and ledger.check().entries == 2
    # The file holds the keyed hash; lookups prefix it with its key id.
    replaced = path.read_text().replace(KEYS.customer_ref("cust-0"), KEYS.customer_ref("cust-9"))
    stat = path.stat()
    path.write_text(replaced)  # same size, other content, and a later time
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert ledger.is_suppressed("cust-9") and not ledger.is_suppressed("cust-0")
    assert ledger.check().first_bad_line == 1


def test_a_line_being_written_is_read_once_complete(tmp_path: Path) -> None:
    path = tmp_path / "suppression.jsonl"
    writer, reader = FileSuppressionLedger(path, KEYS), FileSuppressionLedger(path, KEYS)
    writer.suppress("cust-1", "case-1", AT)
    assert reader.is_suppressed("cust-1")
    text = path.read_text()
    writer.suppress("cust-2", "case-2", AT)
    whole = path.read_text()
    path.write_text(whole[: len(text) + 20])  # the second line half written
    assert reader.refs() == {reader.ref("cust-1")}
    path.write_text(whole)
    assert reader.refs() == {reader.ref("cust-1"), reader.ref("cust-2")}
