"""The filesystem archive store: keys by prefix, deletes that leave no folders behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from closeout.archive import FilesystemArchiveStore, bundle_key, customer_keys, export_key


def test_keys_by_prefix_list_only_what_the_prefix_names(tmp_path: Path) -> None:
    store = FilesystemArchiveStore(tmp_path / "archive")
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
    with pytest.raises(ValueError, match="escapes the store"):
        store.keys("../elsewhere/")


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
