"""The suppression ledger in an object store with Object Lock, shared by workers on any host.

One object per entry, `<prefix>entries/<sequence:012d>.json`, holding the same JSON as a line
of the file ledger. An entry is written only if its sequence number is free (a conditional
put, `If-None-Match: *`): of two workers appending at once one wins, the other reads the new
entry and tries the next number, so the chain never forks. Each object is kept under
COMPLIANCE retention: nobody, the account's root user included, can delete or shorten it
before the retention ends (a new version of a key can still be written, and `check` reports
one).
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from closeout.crypto.purpose_keys import RecordKeys
from closeout.settings import Settings
from closeout.storage.s3 import (
    ObjectStorageError,
    error_code,
    put_request,
    reported,
    s3_client,
)
from closeout.storage.settings import ServerSideEncryption
from closeout.suppression.chain import ChainedLedger, Entry, LedgerCheck, Seen

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

ENTRY_NAME = re.compile(r"^(\d{12})\.json$")
# Conditional puts lost to other workers in a row before an append gives up (and its
# activity retries it later): each loss means another entry was written meanwhile.
MAX_LOST_RACES = 50


class LedgerBucketRefused(ObjectStorageError):
    """The ledger's bucket cannot keep entries beyond deletion (no Object Lock)."""


def retained_until(now: datetime, years: int) -> datetime:
    try:
        return now.replace(year=now.year + years)
    except ValueError:  # 29 February, into a year without one
        return now.replace(year=now.year + years, day=28)


@dataclass(frozen=True)
class _ObjectSeen:
    """What has been read of the bucket: the last entry's key and sequence number."""

    last_key: str = ""
    sequence: int = 0
    entries: Seen = field(default_factory=Seen)


class S3SuppressionLedger(ChainedLedger):
    """Entries as objects under Object Lock; lookups list only the keys after the last seen."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str,
        keys: RecordKeys,
        retention_years: int,
        sse: ServerSideEncryption | None = None,
        sse_kms_key_id: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(keys)
        self.client = client
        self.bucket = bucket
        self.entries_prefix = f"{prefix}entries/"
        self.retention_years = retention_years
        self._sse = sse
        self._sse_kms_key_id = sse_kms_key_id
        self._clock = clock
        self._seen = _ObjectSeen()
        self._mutex = threading.Lock()
        self._lock_checked = False

    def require_object_lock(self) -> None:
        """The bucket answers and has Object Lock on (`closeout check-config`), or an error."""
        self._refuse_unlocked_bucket()

    def _refuse_unlocked_bucket(self) -> None:
        """A bucket without Object Lock would let the ledger be deleted: refuse it at once."""
        if self._lock_checked:
            return
        with reported("reading the Object Lock configuration", self.bucket):
            try:
                answer = self.client.get_object_lock_configuration(Bucket=self.bucket)
                enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
            except ClientError as exc:
                if error_code(exc) != "ObjectLockConfigurationNotFoundError":
                    raise
                enabled = None
        if enabled != "Enabled":
            raise LedgerBucketRefused(
                f"the suppression ledger's bucket {self.bucket!r} does not have Object Lock "
                "enabled: create the bucket with Object Lock (it cannot be turned on for every "
                "existing bucket) so entries cannot be deleted"
            )
        self._lock_checked = True

    def _objects_after(self, start_after: str) -> Iterator[tuple[str, int]]:
        """The entries' keys after `start_after`, with their sequence numbers, in order."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.entries_prefix, StartAfter=start_after
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = ENTRY_NAME.match(item["Key"].removeprefix(self.entries_prefix))
                if name is not None:
                    yield item["Key"], int(name.group(1))

    def _read(self, key: str) -> Entry:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        entry: Entry = json.loads(body)
        return entry

    def _catch_up(self) -> _ObjectSeen:
        """Read the entries written since the last look; the caller holds _mutex."""
        self._refuse_unlocked_bucket()
        seen = self._seen
        with reported("reading the suppression ledger", self.bucket):
            new = [(key, n, self._read(key)) for key, n in self._objects_after(seen.last_key)]
        if new:
            key, sequence, _ = new[-1]
            self._seen = _ObjectSeen(key, sequence, seen.entries.after([e for *_, e in new]))
        return self._seen

    def refs(self) -> frozenset[str]:
        with self._mutex:
            return self._catch_up().entries.refs

    def entries(self) -> list[Entry]:
        self._refuse_unlocked_bucket()
        with reported("reading the suppression ledger", self.bucket):
            return [self._read(key) for key, _n in self._objects_after("")]

    def _append(
        self, customer_id: str, case_id: str, at: datetime, unless_named: bool = False
    ) -> bool:
        with self._mutex:
            for _ in range(MAX_LOST_RACES):
                seen = self._catch_up()
                entry = self._next_entry(seen.entries, customer_id, case_id, at, unless_named)
                if entry is None:
                    return False
                if self._put_new(f"{self.entries_prefix}{seen.sequence + 1:012d}.json", entry):
                    self._catch_up()
                    return True
        raise ObjectStorageError(
            f"object storage: the suppression ledger in bucket {self.bucket!r} kept changing "
            f"under {MAX_LOST_RACES} appends in a row; try again"
        )

    def _put_new(self, key: str, entry: Entry) -> bool:
        """Write the entry if no object has the key yet; False if another worker's has."""
        body = (json.dumps(entry, sort_keys=True) + "\n").encode()
        until = retained_until(self._clock(), self.retention_years)
        request = put_request(self.bucket, key, body, self._sse, self._sse_kms_key_id)
        request["ContentType"] = "application/json"
        request["IfNoneMatch"] = "*"
        request["ObjectLockMode"] = "COMPLIANCE"
        request["ObjectLockRetainUntilDate"] = until
        with reported(f"appending {key!r} to the suppression ledger", self.bucket):
            try:
                self.client.put_object(**request)
            except ClientError as exc:
                # 412: the number is taken; 409: another conditional put of it is under way.
                if error_code(exc) in {"PreconditionFailed", "ConditionalRequestConflict"}:
                    return False
                raise
        return True

    def check(self) -> LedgerCheck:
        """Walk the chain; also the first entry whose key holds more than one version (an
        overwrite, which Object Lock allows as a new version, keeping the original)."""
        chain = super().check()
        with reported("listing the suppression ledger's versions", self.bucket):
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=self.entries_prefix
            )
            versions = Counter(
                item["Key"]
                for page in pages
                for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            )
        overwritten = [
            int(name.group(1))
            for key, count in versions.items()
            if count > 1
            and (name := ENTRY_NAME.match(key.removeprefix(self.entries_prefix))) is not None
        ]
        bad = [n for n in [chain.first_bad_line, *overwritten] if n is not None]
        return LedgerCheck(chain.entries, min(bad) if bad else None)


def object_ledger_from(settings: Settings) -> S3SuppressionLedger:
    """The ledger in the settings' Object Lock bucket."""
    assert settings.ledger_s3_bucket is not None  # the settings refuse s3 without a bucket
    return S3SuppressionLedger(
        s3_client(settings),
        settings.ledger_s3_bucket,
        settings.ledger_s3_prefix,
        settings.record_keys(),
        settings.ledger_retention_years,
        settings.s3_sse,
        settings.s3_sse_kms_key_id,
    )
