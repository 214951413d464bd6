"""Where archives and the suppression ledger are kept: the settings of the storage choices.

A part of the one Settings object (it inherits these fields, so they read as
CLOSEOUT_ARCHIVE_STORE, CLOSEOUT_S3_BUCKET, …). No secret lives here: object storage
credentials come from boto3's own chain (AWS_* variables, profiles, instance roles).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, model_validator


class ArchiveStoreKind(StrEnum):
    FILESYSTEM = "filesystem"
    S3 = "s3"


class LedgerStore(StrEnum):
    FILE = "file"
    S3 = "s3"


class ServerSideEncryption(StrEnum):
    """How the object store encrypts what Closeout puts (on top of the sealed archives)."""

    AES256 = "AES256"
    KMS = "aws:kms"


def _check_prefix(name: str, prefix: str) -> None:
    if prefix.startswith("/") or ".." in prefix.split("/"):
        raise ValueError(f"{name} must be a relative key prefix without '..', not {prefix!r}")
    if prefix and not prefix.endswith("/"):
        # `closeout` would also take in `closeout-other/…`: a prefix names a folder.
        raise ValueError(f"{name} must end with '/', like {prefix + '/'!r}")


class StorageSettings(BaseModel):
    """Object storage (S3 or S3-compatible) for archive bundles, exports and the ledger."""

    archive_store: ArchiveStoreKind = ArchiveStoreKind.FILESYSTEM
    # The archive's bucket and the prefix of every key Closeout writes there ("" or ending
    # with "/"). The bucket may be versioned: a delete removes every version of the key.
    s3_bucket: str | None = Field(default=None, min_length=3, max_length=63)
    s3_prefix: str = ""
    # An S3-compatible store's address (MinIO, Ceph, …); unset: AWS's endpoint of the region.
    s3_endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    s3_region: str | None = None
    # Sent with every put; unset, the bucket's default encryption applies.
    s3_sse: ServerSideEncryption | None = None
    s3_sse_kms_key_id: str | None = None
    suppression_ledger_store: LedgerStore = LedgerStore.FILE
    # A bucket created with Object Lock: each entry is kept in COMPLIANCE mode this long, so
    # not even the account's root user can delete it before the archives it outlives.
    ledger_s3_bucket: str | None = Field(default=None, min_length=3, max_length=63)
    ledger_s3_prefix: str = "suppression-ledger/"
    ledger_retention_years: int = Field(default=100, ge=1, le=1000)

    @model_validator(mode="after")
    def _check_storage(self) -> StorageSettings:
        if self.archive_store is ArchiveStoreKind.S3 and not self.s3_bucket:
            raise ValueError("CLOSEOUT_ARCHIVE_STORE=s3 needs CLOSEOUT_S3_BUCKET")
        if self.suppression_ledger_store is LedgerStore.S3 and not self.ledger_s3_bucket:
            raise ValueError(
                "CLOSEOUT_SUPPRESSION_LEDGER_STORE=s3 needs CLOSEOUT_LEDGER_S3_BUCKET "
                "(a bucket created with Object Lock)"
            )
        if self.s3_sse is ServerSideEncryption.KMS and not self.s3_sse_kms_key_id:
            raise ValueError("CLOSEOUT_S3_SSE=aws:kms needs CLOSEOUT_S3_SSE_KMS_KEY_ID")
        if self.s3_sse_kms_key_id and self.s3_sse is not ServerSideEncryption.KMS:
            raise ValueError("CLOSEOUT_S3_SSE_KMS_KEY_ID is used only with CLOSEOUT_S3_SSE=aws:kms")
        _check_prefix("CLOSEOUT_S3_PREFIX", self.s3_prefix)
        _check_prefix("CLOSEOUT_LEDGER_S3_PREFIX", self.ledger_s3_prefix)
        return self
