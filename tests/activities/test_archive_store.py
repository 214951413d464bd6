"""The archive stores' contract, run on the filesystem store and on the S3 store (a real S3
endpoint): keys by prefix, idempotent deletes, refused keys; then each store's own rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from closeout.archive import (
    ArchiveStore,
    FilesystemArchiveStore,
    bundle_key,
    customer_keys,
    export_key,
)
from closeout.storage.s3_archive import S3ArchiveStore
from tests.s3_server import S3Service

StoreFactory = Callable[[], ArchiveStore]


@pytest.fixture(params=["filesystem", "s3"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Makes stores over one place: a folder, or a bucket (versioned, under a key prefix)."""
    if request.param == "filesystem":
        return lambda: FilesystemArchiveStore(tmp_path / "archive")
    s3: S3Service = request.getfixturevalue("s3")
    bucket = s3.bucket(versioned=True)
    return lambda: S3ArchiveStore(s3.client(), bucket, prefix="archive/")


def test_keys_by_prefix_list_only_what_the_prefix_names(new_store: StoreFactory) -> None:
    store = new_store()
    assert store.keys() == [] and store.keys("c-1/") == []
    store.put(bundle_key("c-1", "b1"), b"one")
    store.put(bundle_key("c-1", "b2"), b"two")
    store.put(bundle_key("c-10", "b3"), b"ten")
    store.put(export_key("c-1", "e1"), b"{}")
    assert store.keys("c-1/") == ["c-1/b1.tar", "c-1/b2.tar"]
    assert store.keys("c-1") == ["c-1/b1.tar", "c-1/b2.tar", "c-10/b3.tar"]
    assert store.keys("c-1/b2") == ["c-1/b2.tar"]
    assert store.keys("exports/") == ["exports/c-1/e1.json"]
    assert customer_keys(store, "c-1") == ["c-1/b1.tar", "c-1/b2.tar", "exports/c-1/e1.json"]
    assert len(store.keys()) == 4
    assert new_store().keys("c-1/") == ["c-1/b1.tar", "c-1/b2.tar"]  # another instance
    with pytest.raises(ValueError, match="escapes the store"):
        store.keys("../elsewhere/")


def test_put_get_and_delete_are_safe_to_retry(new_store: StoreFactory) -> None:
    store = new_store()
    key = bundle_key("c-1", "b1")
    assert store.get(key) is None
    store.put(key, b"first")
    store.put(key, b"second")  # a retried write replaces, never duplicates
    assert store.get(key) == b"second" and store.keys("c-1/") == [key]
    assert store.delete(key) is True
    assert store.get(key) is None and store.keys("c-1/") == []
    assert store.delete(key) is False  # a retried delete finds nothing
    assert customer_keys(store, "c-1") == []


@pytest.mark.parametrize("key", ["../outside.tar", "c-1/../../outside.tar", "/etc/outside.tar"])
def test_keys_that_leave_the_store_are_refused(new_store: StoreFactory, key: str) -> None:
    store = new_store()
    for operation in (lambda: store.put(key, b"x"), lambda: store.get(key)):
        with pytest.raises(ValueError, match="escapes the store"):
            operation()
    with pytest.raises(ValueError, match="escapes the store"):
        store.delete(key)


def test_deleting_a_customers_last_key_removes_its_folders(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    store = FilesystemArchiveStore(root)
    store.put(bundle_key("c-1", "b1"), b"one")
    store.put(bundle_key("c-1", "b2"), b"two")
    store.put(export_key("c-1", "e1"), b"{}")
    store.put(export_key("c-2", "e2"), b"{}")
    assert store.delete(bundle_key("c-1", "b1")) is True
    assert (root / "c-1").is_dir()  # b2 is still there
    assert store.delete(bundle_key("c-1", "b2")) is True
    assert store.delete(export_key("c-1", "e1")) is True
    assert not (root / "c-1").exists() and not (root / "exports" / "c-1").exists()
    assert (root / "exports" / "c-2").is_dir() and root.is_dir()
    assert store.delete(bundle_key("c-1", "b1")) is False  # a retried delete finds nothing
    assert customer_keys(store, "c-1") == []
    store.put(bundle_key("c-1", "b3"), b"again")  # the folder comes back when needed
    assert store.get(bundle_key("c-1", "b3")) == b"again"


def test_an_interrupted_write_is_listed_until_deleted(tmp_path: Path) -> None:
    """A half-written bundle holds customer data too: deletion must find it."""
    store = FilesystemArchiveStore(tmp_path / "archive")
    store.put(bundle_key("c-1", "b1"), b"one")
    (tmp_path / "archive" / "c-1" / "b2.tar.partial").write_bytes(b"half")
    assert store.get(bundle_key("c-1", "b2")) is None
    assert store.keys("c-1/") == ["c-1/b1.tar", "c-1/b2.tar.partial"]
    assert store.delete(bundle_key("c-1", "b2")) is False
    assert store.keys("c-1/") == ["c-1/b1.tar"]
