"""The S3 archive store's own rules, on a real S3 endpoint: every version goes with a delete,
the store encrypts as told, failures say what failed, and the vault built from settings keeps
only sealed bundles there."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.testing import ActivityEnvironment

from closeout.archive import archive_store_from, bundle_key
from closeout.crypto.data_keys import KeyDestroyed
from closeout.crypto.envelope import is_sealed
from closeout.db import Database
from closeout.settings import Settings
from closeout.storage.s3 import ObjectStorageError, s3_client
from closeout.storage.s3_archive import S3ArchiveStore
from closeout.storage.settings import ServerSideEncryption
from tests.activities.conftest import World
from tests.conftest import make_settings
from tests.s3_server import S3Service
from tests.support import MailSink, free_port


def every_version(s3: S3Service, bucket: str) -> list[str]:
    """Each version and delete marker in the bucket, as `key@version`."""
    answer = s3.client().list_object_versions(Bucket=bucket)
    found = [*answer.get("Versions", []), *answer.get("DeleteMarkers", [])]
    return [f"{v['Key']}@{v['VersionId']}" for v in found]


def test_a_delete_in_a_versioned_bucket_leaves_no_version(s3: S3Service) -> None:
    bucket = s3.bucket(versioned=True)
    store = S3ArchiveStore(s3.client(), bucket, prefix="closeout/")
    key = bundle_key("c-1", "b1")
    store.put(key, b"first")
    store.put(key, b"second")
    store.put(bundle_key("c-2", "b2"), b"other")
    # Someone deletes the key by hand: the bytes stay as a non-current version.
    s3.client().delete_object(Bucket=bucket, Key=f"closeout/{key}")
    assert store.get(key) is None
    assert store.keys("c-1/") == [key], "a key with only old versions left is still listed"
    assert store.delete(key) is True
    assert store.keys("c-1/") == [] and store.delete(key) is False
    left = every_version(s3, bucket)
    assert len(left) == 1 and left[0].startswith(f"closeout/{bundle_key('c-2', 'b2')}@")


def test_an_unversioned_bucket_is_emptied_too(s3: S3Service) -> None:
    bucket = s3.bucket()
    store = S3ArchiveStore(s3.client(), bucket)
    store.put("c-1/b1.tar", b"one")
    assert store.delete("c-1/b1.tar") is True
    assert every_version(s3, bucket) == []


def test_every_put_asks_for_the_configured_encryption(s3: S3Service) -> None:
    bucket = s3.bucket()
    client = s3.client()
    S3ArchiveStore(client, bucket, sse=ServerSideEncryption.AES256).put("a.tar", b"x")
    assert client.head_object(Bucket=bucket, Key="a.tar")["ServerSideEncryption"] == "AES256"
    key_id = s3.kms_key()
    S3ArchiveStore(client, bucket, sse=ServerSideEncryption.KMS, sse_kms_key_id=key_id).put(
        "b.tar", b"x"
    )
    head = client.head_object(Bucket=bucket, Key="b.tar")
    assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]


def test_a_missing_bucket_or_endpoint_fails_fast_with_a_clear_error(s3: S3Service) -> None:
    missing = S3ArchiveStore(s3.client(), "closeout-no-such-bucket")
    with pytest.raises(ObjectStorageError, match=r"'closeout-no-such-bucket'.*NoSuchBucket"):
        missing.put("a.tar", b"x")
    with pytest.raises(ObjectStorageError, match="NoSuchBucket"):
        missing.keys()
    down = Settings(dev_mode=True, s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    store = S3ArchiveStore(s3_client(down), "closeout-archive")
    started = time.monotonic()
    with pytest.raises(ObjectStorageError, match=r"closeout-archive.*Could not connect"):
        store.get("a.tar")
    assert time.monotonic() - started < 20  # bounded retries, not a hang


def test_settings_name_the_s3_store_and_refuse_half_a_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLOSEOUT_DEV_MODE", "true")
    monkeypatch.setenv("CLOSEOUT_ARCHIVE_STORE", "s3")
    with pytest.raises(ValidationError, match="CLOSEOUT_ARCHIVE_STORE=s3 needs CLOSEOUT_S3_BUCKET"):
        Settings()
    monkeypatch.setenv("CLOSEOUT_S3_BUCKET", "closeout-archive")
    monkeypatch.setenv("CLOSEOUT_S3_SSE", "aws:kms")
    with pytest.raises(ValidationError, match="needs CLOSEOUT_S3_SSE_KMS_KEY_ID"):
        Settings()
    monkeypatch.setenv("CLOSEOUT_S3_SSE_KMS_KEY_ID", "alias/closeout")
    monkeypatch.setenv("CLOSEOUT_S3_PREFIX", "/absolute/")
    with pytest.raises(ValidationError, match="CLOSEOUT_S3_PREFIX must be a relative"):
        Settings()
    monkeypatch.setenv("CLOSEOUT_S3_PREFIX", "prod")  # would take in `prod-other/…` too
    with pytest.raises(ValidationError, match="CLOSEOUT_S3_PREFIX must end with '/'"):
        Settings()
    monkeypatch.setenv("CLOSEOUT_S3_PREFIX", "prod/")
    settings = Settings()
    store = archive_store_from(settings)
    assert isinstance(store, S3ArchiveStore)
    assert (store.bucket, store.prefix, store.sse) == (
        "closeout-archive",
        "prod/",
        ServerSideEncryption.KMS,
    )
    monkeypatch.setenv("CLOSEOUT_SUPPRESSION_LEDGER_STORE", "s3")
    with pytest.raises(ValidationError, match="needs CLOSEOUT_LEDGER_S3_BUCKET"):
        Settings()


def test_the_vault_from_settings_keeps_only_sealed_bundles_and_deletes_them_whole(
    s3: S3Service,
    tmp_path: Path,
    sqlite_url: str,
    mail: MailSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = s3.bucket(versioned=True)
    for name, value in {
        "CLOSEOUT_ARCHIVE_STORE": "s3",
        "CLOSEOUT_S3_BUCKET": bucket,
        "CLOSEOUT_S3_PREFIX": "archive/",
        "CLOSEOUT_S3_ENDPOINT_URL": s3.endpoint_url,
        "CLOSEOUT_S3_SSE": "AES256",
    }.items():
        monkeypatch.setenv(name, value)
    db = Database.from_url(sqlite_url)
    world = World(make_settings(tmp_path, sqlite_url, mail), db)
    customer = world.customer()
    case_id = world.case(customer)
    bundle_id = str(uuid.uuid4())
    ActivityEnvironment().run(
        world.activities.backup_customer_data,
        world.step(case_id, customer, "backup_created", bundle_id),
    )
    key = f"archive/{bundle_key(customer, bundle_id)}"
    blob = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert is_sealed(blob) and f"Shop {customer}".encode() not in blob
    assert not (tmp_path / "archive").exists(), "nothing went to the filesystem store"
    vault = world.activities.vault
    assert vault.get_bundle(customer, bundle_id)  # opens with the customer's key
    assert vault.shred(customer) >= 1
    with pytest.raises(KeyDestroyed):
        vault.get_bundle(customer, bundle_id)
    assert vault.delete_bundle(customer, bundle_id) is True
    assert every_version(s3, bucket) == []
    db.engine.dispose()
