"""The suppression ledger in an object store with Object Lock, shared by workers on any host.

One object per entry, `<prefix>entries/<sequence:012d>.json`, holding the same JSON as a line
of the file ledger. An entry is written only if its sequence number is free (a conditional
put, `If-None-Match: *`): of two workers appending at once one wins, the other reads the new
entry and tries the next number, so the chain never forks. Each object is kept under
COMPLIANCE retention: nobody, the account's root user included, can delete or shorten it
before the retention ends. A new version of a key or a delete marker can still be written
over an entry: lookups then refuse to answer (they read only the first version of each entry)
and `check` reports it.
"""

from __future__ import annotations

import json
import re
import threading
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
from closeout.suppression.chain import ChainedLedger, Entry, LedgerCheck, Seen, first_bad

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import ListObjectVersionsOutputTypeDef

ENTRY_NAME = re.compile(r"^(\d{12})\.json$")
# Conditional puts lost to other workers in a row before an append gives up (and its
# activity retries it later): each loss means another entry was written meanwhile.
MAX_LOST_RACES = 50


class LedgerTampered(ObjectStorageError):
    """The ledger's bucket holds what an append never writes: lookups refuse to answer."""


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

    def _objects_after(self, start_after: str, sequence: int) -> Iterator[tuple[str, int, str]]:
        """The entries after `start_after` (whose sequence number is `sequence`), in order, each
        with the version that was written first: the one Object Lock keeps.

        Lookups fail closed rather than trust a ledger someone wrote over: a key holding a second
        version or a delete marker (which Object Lock allows, hiding the locked original from a
        plain read or listing), an object that is not an entry, or a gap in the numbers stops
        every lookup with an error until `closeout suppression check` has been looked into.
        """
        versions: dict[str, list[str]] = {}
        for page in self._version_pages(start_after):
            for marker in page.get("DeleteMarkers", []):
                raise LedgerTampered(
                    f"entry {marker['Key']!r} of the suppression ledger in bucket "
                    f"{self.bucket!r} carries a delete marker"
                )
            for item in page.get("Versions", []):
                versions.setdefault(item["Key"], []).append(item["VersionId"])
        for key in sorted(versions):
            name = ENTRY_NAME.match(key.removeprefix(self.entries_prefix))
            if name is None or int(name.group(1)) != sequence + 1:
                raise LedgerTampered(
                    f"{key!r} in the suppression ledger's bucket {self.bucket!r} is not entry "
                    f"{sequence + 1:012d}"
                )
            if len(versions[key]) != 1:
                raise LedgerTampered(
                    f"entry {key!r} of the suppression ledger in bucket {self.bucket!r} was "
                    "written over"
                )
            sequence += 1
            yield key, sequence, versions[key][0]

    def _version_pages(self, after_key: str) -> Iterator[ListObjectVersionsOutputTypeDef]:
        """Every version and delete marker of the keys after `after_key`, page by page."""
        key_marker, version_marker = after_key, ""
        while True:
            if version_marker:
                page = self.client.list_object_versions(
                    Bucket=self.bucket,
                    Prefix=self.entries_prefix,
                    KeyMarker=key_marker,
                    VersionIdMarker=version_marker,
                )
            elif key_marker:
                page = self.client.list_object_versions(
                    Bucket=self.bucket, Prefix=self.entries_prefix, KeyMarker=key_marker
                )
            else:
                page = self.client.list_object_versions(
                    Bucket=self.bucket, Prefix=self.entries_prefix
                )
            yield page
            if not page.get("IsTruncated"):
                return
            key_marker = page.get("NextKeyMarker", "")
            version_marker = page.get("NextVersionIdMarker", "")

    def _read(self, key: str, version_id: str) -> Entry:
        body = self.client.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)["Body"]
        try:
            entry: Entry = json.loads(body.read())
            for name in ("ref", "case_id", "at", "prev", "hash"):
                if not isinstance(entry[name], str):
                    raise TypeError(name)
        except (ValueError, KeyError, TypeError) as exc:
            raise LedgerTampered(
                f"entry {key!r} of the suppression ledger in bucket {self.bucket!r} is not a "
                "ledger entry"
            ) from exc
        return entry

    def _catch_up(self) -> _ObjectSeen:
        """Read the entries written since the last look; the caller holds _mutex."""
        self._refuse_unlocked_bucket()
        seen = self._seen
        with reported("reading the suppression ledger", self.bucket):
            new = [
                (key, n, self._read(key, version))
                for key, n, version in self._objects_after(seen.last_key, seen.sequence)
            ]
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
            return [self._read(key, version) for key, _n, version in self._objects_after("", 0)]

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
        """Walk the chain of the entries as first written; an entry written over (a second
        version, a delete marker), a stray object or a gap is the first bad one."""
        self._refuse_unlocked_bucket()
        entries: list[Entry] = []
        try:
            with reported("reading the suppression ledger", self.bucket):
                for key, _n, version in self._objects_after("", 0):
                    entries.append(self._read(key, version))
        except LedgerTampered:
            with reported("listing the suppression ledger", self.bucket):
                written = {
                    item["Key"]
                    for page in self._version_pages("")
                    for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                }
            chain = first_bad(entries)
            bad = chain.first_bad_line or len(entries) + 1
            return LedgerCheck(max(len(written), bad), bad)
        return first_bad(entries)


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
