"""Archive bundles and exports in an S3 bucket (AWS or S3-compatible), deleted provably.

In a versioned bucket, deleting a key's current version keeps the bytes as a non-current
version: a delete here removes every version and delete marker of the key, and `keys` lists
a key while any version of it is left, so verification cannot be fooled by versioning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from closeout.storage.s3 import (
    ObjectStorageError,
    checked_key,
    error_code,
    put_request,
    reported,
    s3_client,
)
from closeout.storage.settings import ServerSideEncryption, StorageSettings

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import ObjectIdentifierTypeDef


class S3ArchiveStore:
    """An ArchiveStore on one bucket, under one key prefix."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        sse: ServerSideEncryption | None = None,
        sse_kms_key_id: str | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.sse = sse
        self.sse_kms_key_id = sse_kms_key_id

    def put(self, key: str, data: bytes) -> str:
        object_key = checked_key(self.prefix, key)
        request = put_request(self.bucket, object_key, data, self.sse, self.sse_kms_key_id)
        with reported(f"storing {object_key!r}", self.bucket):
            self.client.put_object(**request)
        return f"s3://{self.bucket}/{object_key}"

    def get(self, key: str) -> bytes | None:
        object_key = checked_key(self.prefix, key)
        with reported(f"reading {object_key!r}", self.bucket):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=object_key)
            except ClientError as exc:
                if error_code(exc) in {"NoSuchKey", "404"}:
                    return None
                raise
            return response["Body"].read()

    def _versions(self, object_prefix: str) -> Iterator[tuple[str, str, bool]]:
        """(key, version id, whether it holds data) of every version and delete marker under
        the prefix; an unversioned bucket answers with one version "null" per key."""
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=object_prefix
        )
        for page in pages:
            for version in page.get("Versions", []):
                yield version["Key"], version["VersionId"], True
            for marker in page.get("DeleteMarkers", []):
                yield marker["Key"], marker["VersionId"], False

    def delete(self, key: str) -> bool:
        """Remove every version of the key; True when any of them held data."""
        object_key = checked_key(self.prefix, key)
        with reported(f"deleting {object_key!r}", self.bucket):
            found = [(v, data) for k, v, data in self._versions(object_key) if k == object_key]
            # Data versions first: a delete interrupted between the two leaves a marker,
            # never a version that `keys` would no longer list.
            doomed: list[ObjectIdentifierTypeDef] = [
                {"Key": object_key, "VersionId": v}
                for v, _data in sorted(found, key=lambda f: not f[1])
            ]
            for start in range(0, len(doomed), 1000):
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": doomed[start : start + 1000]}
                )
                errors = response.get("Errors", [])
                if errors:
                    first = errors[0]
                    raise ObjectStorageError(
                        f"object storage: deleting {object_key!r} in bucket {self.bucket!r} "
                        f"left version {first.get('VersionId')!r}: "
                        f"{first.get('Code')}: {first.get('Message')}"
                    )
        return any(data for _v, data in found)

    def keys(self, prefix: str = "") -> list[str]:
        """The keys starting with `prefix` that still hold data in any version."""
        object_prefix = checked_key(self.prefix, prefix)
        with reported(f"listing {object_prefix!r}", self.bucket):
            found = {k for k, _v, data in self._versions(object_prefix) if data}
        return sorted(k.removeprefix(self.prefix) for k in found)


def s3_archive_store_from(settings: StorageSettings) -> S3ArchiveStore:
    """The archive bucket the settings name."""
    assert settings.s3_bucket is not None  # the settings refuse s3 without a bucket
    return S3ArchiveStore(
        s3_client(settings),
        settings.s3_bucket,
        settings.s3_prefix,
        settings.s3_sse,
        settings.s3_sse_kms_key_id,
    )
