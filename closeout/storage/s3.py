"""The one S3 client Closeout builds, and what its failures mean.

Credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a
profile, an instance or task role): no setting of Closeout holds them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from closeout.storage.settings import ServerSideEncryption, StorageSettings

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import PutObjectRequestTypeDef

# An endpoint that is down or a bucket that does not answer fails within seconds, not
# minutes: a few attempts, each with short connect and read timeouts.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30
MAX_ATTEMPTS = 3


class ObjectStorageError(Exception):
    """The object store refused a call or could not be reached; the message says which."""


def s3_client(settings: StorageSettings) -> S3Client:
    """A client for the settings' endpoint and region, with bounded timeouts and retries."""
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        # S3-compatible stores (MinIO, Ceph) are addressed by path, not by bucket host name.
        s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
    )
    # A session of its own: boto3's default session is not safe to share between threads.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        config=config,
    )


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def reported(action: str, bucket: str) -> Iterator[None]:
    """Turn boto's errors (denied, no such bucket, endpoint down, no credentials) into one
    ObjectStorageError naming what was being done where."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ObjectStorageError(
            f"object storage: {action} in bucket {bucket!r} failed: "
            f"{error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
        ) from exc
    except BotoCoreError as exc:
        raise ObjectStorageError(
            f"object storage: {action} in bucket {bucket!r} failed: {exc}"
        ) from exc


def checked_key(prefix: str, key: str) -> str:
    """The object key of a store key under `prefix`; a key that could name something outside
    the prefix (absolute, or with a `..` part) is refused like the filesystem store does."""
    if key.startswith("/") or ".." in key.split("/"):
        raise ValueError(f"archive key escapes the store: {key!r}")
    return prefix + key


def put_request(
    bucket: str,
    key: str,
    body: bytes,
    sse: ServerSideEncryption | None,
    sse_kms_key_id: str | None,
) -> PutObjectRequestTypeDef:
    """A put of `body`, encrypted by the store as the settings say (every put says it, so a
    bucket's default cannot weaken it)."""
    request: PutObjectRequestTypeDef = {"Bucket": bucket, "Key": key, "Body": body}
    if sse is ServerSideEncryption.KMS:
        request["ServerSideEncryption"] = "aws:kms"
        if sse_kms_key_id:
            request["SSEKMSKeyId"] = sse_kms_key_id
    elif sse is ServerSideEncryption.AES256:
        request["ServerSideEncryption"] = "AES256"
    return request
