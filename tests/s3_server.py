"""A real S3 endpoint (moto in server mode) on a loopback port for the whole session, and the
buckets tests make on it: plain, versioned, or with Object Lock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import pytest

from closeout.settings import Settings
from closeout.storage.s3 import s3_client
from tests.moto_server import fake_aws, start_moto, stop_moto

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
def s3() -> Iterator[S3Service]:
    """moto's S3 (and KMS) over HTTP; the fake credentials stay set for the session."""
    with pytest.MonkeyPatch.context() as environment:
        fake_aws(environment)
        process, url = start_moto()
        try:
            yield S3Service(url)
        finally:
            stop_moto(process)
