"""A real S3 endpoint (moto in server mode) on a loopback port for the whole session, and the
buckets tests make on it: plain, versioned, or with Object Lock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import pytest

from closeout.settings import Settings
from closeout.storage.s3 import s3_client

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


@dataclass(frozen=True)
class S3Service:
    endpoint_url: str

    def client(self) -> S3Client:
        """A client built the way Closeout builds its own, from settings."""
        settings = Settings(dev_mode=True, s3_endpoint_url=self.endpoint_url)
        return s3_client(settings)

    def bucket(self, versioned: bool = False, object_lock: bool = False) -> str:
        """A new bucket of its own for one test."""
        name = f"closeout-{uuid.uuid4().hex[:16]}"
        client = self.client()
        client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def kms_key(self) -> str:
        kms = boto3.session.Session().client(
            "kms", endpoint_url=self.endpoint_url, region_name="us-east-1"
        )
        return kms.create_key()["KeyMetadata"]["KeyId"]


@pytest.fixture(scope="session")
def s3(moto_url: str) -> S3Service:
    """moto's S3 (and KMS) over HTTP (tests/moto_server.py)."""
    return S3Service(moto_url)
