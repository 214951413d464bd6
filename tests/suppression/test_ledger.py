"""The suppression ledger file: named once, chained, shared by every process that opens it."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from closeout.crypto.keyring import customer_ref
from closeout.crypto.purpose_keys import RecordKeys
from closeout.suppression.ledger import GENESIS, FileSuppressionLedger, LedgerCheck

KEYS = RecordKeys({"k1": bytes(range(32))}, "k1")
AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_two_ledgers_on_one_file_see_each_others_entries(tmp_path: Path) -> None:
    """Two workers (two instances) append in turn; each sees the other's names and chain."""
    path = tmp_path / "suppression.jsonl"
    first, second = FileSuppressionLedger(path, KEYS), FileSuppressionLedger(path, KEYS)
    assert first.refs() == frozenset() and not first.is_suppressed("cust-1")
    assert first.suppress("cust-1", "case-1", AT)
    assert second.is_suppressed("cust-1")
    assert second.suppress("cust-2", "case-2", AT)
    assert not first.suppress("cust-2", "case-2", AT)  # the other instance named it
    assert first.suppress("cust-3", "case-3", AT)
    assert first.refs() == second.refs() == {first.ref(f"cust-{n}") for n in (1, 2, 3)}
    check = FileSuppressionLedger(path, KEYS).check()
    assert check.entries == 3 and check.first_bad_line is None


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


def test_threads_naming_customers_at_once_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "suppression.jsonl"
    ledgers = [FileSuppressionLedger(path, KEYS) for _ in range(2)]
    results: list[bool] = []

    def name(n: int) -> None:
        ledger = ledgers[n % 2]
        for i in range(25):
            results.append(ledger.suppress(f"cust-{i}", f"case-{i}", AT))

    threads = [threading.Thread(target=name, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 25 and len(results) == 100
    check = ledgers[0].check()
    assert check.entries == 25 and check.first_bad_line is None


def test_entries_from_before_key_ids_are_still_recognised(tmp_path: Path) -> None:
    """A ledger written when the secret key keyed it: read with that secret, chained on."""
    path = tmp_path / "suppression.jsonl"
    ref = customer_ref("the-old-secret", "cust-1")
    stamp = AT.isoformat(timespec="seconds")
    digest = hashlib.sha256(f"{GENESIS}|{ref}|case-1|{stamp}".encode()).hexdigest()
    line = {"ref": ref, "case_id": "case-1", "at": stamp, "prev": GENESIS, "hash": digest}
    path.write_text(json.dumps(line) + "\n")
    ledger = FileSuppressionLedger(path, replace(KEYS, legacy_secret="the-old-secret"))
    assert ledger.is_suppressed("cust-1") and not ledger.suppress("cust-1", "case-1", AT)
    assert ledger.suppress("cust-2", "case-2", AT)
    assert ledger.check() == LedgerCheck(2, None)
    assert not FileSuppressionLedger(path, KEYS).is_suppressed("cust-1")
