"""The suppression ledger on an Object Lock bucket (a real S3 endpoint): entries nobody can
delete, a bucket that could lose them refused, and two hosts that never fork the chain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from closeout.crypto.purpose_keys import RecordKeys
from closeout.settings import Settings
from closeout.suppression.chain import GENESIS, entry_hash
from closeout.suppression.ledger import ledger_from
from closeout.suppression.object_ledger import (
    LedgerBucketRefused,
    LedgerTampered,
    S3SuppressionLedger,
    retained_until,
)
from tests.s3_server import S3Service

KEYS = RecordKeys({"k1": bytes(range(32))}, "k1")
AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
FIRST = "ledger/entries/000000000001.json"


def ledger(s3: S3Service, bucket: str, years: int = 100) -> S3SuppressionLedger:
    return S3SuppressionLedger(s3.client(), bucket, "ledger/", KEYS, years)


def test_a_bucket_without_object_lock_is_refused(s3: S3Service) -> None:
    unlocked = ledger(s3, s3.bucket(versioned=True))
    with pytest.raises(LedgerBucketRefused, match="does not have Object Lock enabled"):
        unlocked.is_suppressed("cust-1")
    with pytest.raises(LedgerBucketRefused):
        unlocked.suppress("cust-1", "case-1", AT)
    with pytest.raises(LedgerBucketRefused):
        unlocked.check()


def test_entries_are_kept_in_compliance_mode_and_cannot_be_removed(s3: S3Service) -> None:
    bucket = s3.bucket(object_lock=True)
    before = datetime.now(UTC)
    assert ledger(s3, bucket, years=100).suppress("cust-1", "case-1", AT)
    client = s3.client()
    head = client.head_object(Bucket=bucket, Key=FIRST)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert retained_until(before, 100) - timedelta(minutes=5) <= until
    assert until <= retained_until(datetime.now(UTC), 100) + timedelta(minutes=5)
    version = head["VersionId"]
    with pytest.raises(ClientError) as refused:
        client.delete_object(Bucket=bucket, Key=FIRST, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as taken:
        client.put_object(Bucket=bucket, Key=FIRST, Body=b"{}", IfNoneMatch="*")
    assert taken.value.response["Error"]["Code"] == "PreconditionFailed"
    # A plain overwrite only adds a version: the original stays, and the check names it.
    client.put_object(Bucket=bucket, Key=FIRST, Body=head_body(client, bucket, version))
    assert ledger(s3, bucket).check().first_bad_line == 1
    assert client.head_object(Bucket=bucket, Key=FIRST, VersionId=version)["ContentLength"] > 0


def head_body(client: Any, bucket: str, version: str) -> bytes:
    body: bytes = client.get_object(Bucket=bucket, Key=FIRST, VersionId=version)["Body"].read()
    return body


def test_a_lost_race_for_a_sequence_number_is_retried_on_the_next(s3: S3Service) -> None:
    """Host B read the ledger, then host A wrote the number B was about to write: B's
    conditional put is refused, B reads A's entry and chains after it."""
    bucket = s3.bucket(object_lock=True)
    host_a, host_b = ledger(s3, bucket), ledger(s3, bucket)
    refused: list[str] = []
    raced: list[bool] = []

    def host_a_writes_first(**_: object) -> None:
        if not raced:
            raced.append(True)
            assert host_a.suppress("cust-a", "case-a", AT)

    def count_refusals(http_response: Any, **_: object) -> None:
        if http_response.status_code == 412:
            refused.append("412")

    events = host_b.client.meta.events
    events.register("before-call.s3.PutObject", host_a_writes_first)
    events.register("after-call.s3.PutObject", count_refusals)
    assert host_b.suppress("cust-b", "case-b", AT)
    assert raced and refused == ["412"]
    check = ledger(s3, bucket).check()
    assert check.entries == 2 and check.first_bad_line is None
    assert host_a.is_suppressed("cust-b") and host_b.is_suppressed("cust-a")


def test_settings_build_the_object_ledger(
    s3: S3Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3.bucket(object_lock=True)
    monkeypatch.setenv("CLOSEOUT_SUPPRESSION_LEDGER_STORE", "s3")
    monkeypatch.setenv("CLOSEOUT_LEDGER_S3_BUCKET", bucket)
    monkeypatch.setenv("CLOSEOUT_LEDGER_RETENTION_YEARS", "7")
    monkeypatch.setenv("CLOSEOUT_S3_ENDPOINT_URL", s3.endpoint_url)
    settings = Settings(dev_mode=True, var_dir=tmp_path)
    built = ledger_from(settings)
    assert isinstance(built, S3SuppressionLedger) and built.retention_years == 7
    assert built.suppress("cust-1", "case-1", AT)
    assert ledger_from(settings).is_suppressed("cust-1")
    assert not settings.suppression_ledger_path.exists()  # no file beside the bucket
    keys = s3.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert [k["Key"] for k in keys] == ["suppression-ledger/entries/000000000001.json"]


def test_retention_ends_on_the_same_day_years_later() -> None:
    assert retained_until(datetime(2028, 2, 29, tzinfo=UTC), 1) == datetime(2029, 2, 28, tzinfo=UTC)
    assert retained_until(AT, 100) == AT.replace(year=2126)


def _rechained(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries with their refs replaced and the chain computed again, as someone with write
    access to the bucket could (the chain's hash is not keyed)."""
    prev, forged = GENESIS, []
    for n, entry in enumerate(entries):
        ref = f"{n:064x}"
        digest = entry_hash(prev, ref, entry["case_id"], entry["at"], entry.get("key_id"))
        forged.append({**entry, "ref": ref, "prev": prev, "hash": digest})
        prev = digest
    return forged


def test_entries_written_over_make_lookups_refuse_rather_than_forget(s3: S3Service) -> None:
    bucket = s3.bucket(object_lock=True)
    first = ledger(s3, bucket)
    assert first.suppress("cust-1", "case-1", AT) and first.suppress("cust-2", "case-2", AT)
    client = s3.client()
    keys = [FIRST, FIRST.replace("1.json", "2.json")]
    for key, entry in zip(keys, _rechained(first.entries()), strict=True):
        client.put_object(Bucket=bucket, Key=key, Body=json.dumps(entry).encode())
    fresh = ledger(s3, bucket)  # another process: nothing read before the forgery
    with pytest.raises(LedgerTampered, match="was written over"):
        fresh.is_suppressed("cust-1")
    with pytest.raises(LedgerTampered):
        fresh.suppress("cust-3", "case-3", AT)
    assert fresh.check().first_bad_line == 1


def test_a_delete_marker_hides_no_entry(s3: S3Service) -> None:
    bucket = s3.bucket(object_lock=True)
    assert ledger(s3, bucket).suppress("cust-1", "case-1", AT)
    s3.client().delete_object(Bucket=bucket, Key=FIRST)  # allowed: it only adds a marker
    fresh = ledger(s3, bucket)
    with pytest.raises(LedgerTampered, match="delete marker"):
        fresh.is_suppressed("cust-1")
    assert fresh.check().first_bad_line == 1


@pytest.mark.parametrize(
    ("name", "body", "bad"),
    [
        ("999999999999.json", None, 2),  # a number far ahead: the next append would vanish
        ("000000000002.json", b"not json", 2),  # the next number, not an entry
        ("0000000000002.json", None, 1),  # a name appends never write (listed first)
    ],
)
def test_what_appends_never_write_stops_lookups(
    s3: S3Service, name: str, body: bytes | None, bad: int
) -> None:
    bucket = s3.bucket(object_lock=True)
    writer = ledger(s3, bucket)
    assert writer.suppress("cust-1", "case-1", AT)
    stray = body if body is not None else json.dumps(writer.entries()[0]).encode()
    s3.client().put_object(Bucket=bucket, Key=f"ledger/entries/{name}", Body=stray)
    fresh = ledger(s3, bucket)
    with pytest.raises(LedgerTampered):
        fresh.is_suppressed("cust-1")
    assert fresh.check().first_bad_line == bad
