"""Archive bundles (one per customer, with manifest and checksums) and where they are stored."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from closeout.crm.port import CustomerExport
from closeout.settings import Settings
from closeout.storage.settings import ArchiveStoreKind

MANIFEST = "manifest.json"
BUNDLE_FORMAT = "closeout-bundle/1"


class BundleCorrupt(Exception):
    """A bundle read back does not match its manifest."""


@dataclass(frozen=True)
class Bundle:
    data: bytes
    manifest: dict[str, Any]
    manifest_sha256: str


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def build_bundle(export: CustomerExport) -> Bundle:
    """Pack every table of an export into a tar with a manifest of SHA-256 checksums.

    The bytes depend only on the export, so a retried backup writes the same bundle.
    """
    files = {f"data/{name}.json": _canonical(rows) for name, rows in sorted(export.tables.items())}
    manifest = {
        "format": BUNDLE_FORMAT,
        "customer_id": export.customer_id,
        "files": {
            path: {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
            for path, content in files.items()
        },
        "record_counts": export.counts(),
    }
    manifest_bytes = _canonical(manifest)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in [(MANIFEST, manifest_bytes), *files.items()]:
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mtime = 0
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(content))
    return Bundle(buffer.getvalue(), manifest, hashlib.sha256(manifest_bytes).hexdigest())


def read_bundle(data: bytes, expected_manifest_sha256: str | None = None) -> CustomerExport:
    """Unpack a bundle, checking the manifest's hash and every file's checksum."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            contents = {}
            for member in tar.getmembers():
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise BundleCorrupt(f"unexpected entry {member.name!r}")
                contents[member.name] = extracted.read()
    except tarfile.TarError as exc:
        raise BundleCorrupt(f"not a readable bundle: {exc}") from exc
    manifest_bytes = contents.pop(MANIFEST, None)
    if manifest_bytes is None:
        raise BundleCorrupt("manifest missing")
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    if expected_manifest_sha256 is not None and manifest_sha != expected_manifest_sha256:
        raise BundleCorrupt("manifest does not match the recorded checksum")
    manifest = json.loads(manifest_bytes)
    if set(manifest["files"]) != set(contents):
        raise BundleCorrupt("bundle files differ from the manifest")
    tables: dict[str, list[dict[str, Any]]] = {}
    for path, meta in manifest["files"].items():
        if hashlib.sha256(contents[path]).hexdigest() != meta["sha256"]:
            raise BundleCorrupt(f"checksum mismatch in {path}")
        tables[path.removeprefix("data/").removesuffix(".json")] = json.loads(contents[path])
    if {k: len(v) for k, v in tables.items()} != manifest["record_counts"]:
        raise BundleCorrupt("record counts differ from the manifest")
    return CustomerExport(manifest["customer_id"], tables)


class ArchiveStore(Protocol):
    """Where archive bundles live: a folder, or an S3 bucket (closeout/storage/s3_archive.py)."""

    def put(self, key: str, data: bytes) -> str: ...

    def get(self, key: str) -> bytes | None: ...

    def delete(self, key: str) -> bool: ...

    def keys(self, prefix: str = "") -> list[str]: ...


def _write_synced(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class FilesystemArchiveStore:
    """Bundles as files under one directory, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"archive key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        tmp = path.with_name(path.name + ".partial")
        try:
            _write_synced(tmp, data)
        except FileNotFoundError:  # a delete pruned the folder between mkdir and open
            _write_synced(tmp, data)
        os.replace(tmp, path)
        return str(path)

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.exists() else None

    def delete(self, key: str) -> bool:
        path = self._path(key)
        existed = path.exists()
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".partial").unlink(missing_ok=True)
        self._prune(path.parent)
        return existed

    def _prune(self, folder: Path) -> None:
        """Remove folders a delete left empty, so listing a prefix stays proportional to it."""
        root = self.root.resolve()
        while folder != root and root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): the folders above are in use too
                return
            folder = folder.parent

    def keys(self, prefix: str = "") -> list[str]:
        """The keys starting with `prefix`; only the folder the prefix names is walked."""
        folder, _, _ = prefix.rpartition("/")
        root = self.root.resolve()
        start = self._path(folder) if folder else root
        if not start.is_dir():
            return []
        found = []
        for dirpath, _dirs, files in os.walk(start):
            base = Path(dirpath).relative_to(root)
            for name in files:
                key = (base / name).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)


def archive_store_from(settings: Settings) -> ArchiveStore:
    """The archive store the settings name: the one place it is built."""
    if settings.archive_store is ArchiveStoreKind.S3:
        # boto3 is loaded only by processes whose settings choose object storage.
        from closeout.storage.s3_archive import s3_archive_store_from

        return s3_archive_store_from(settings)
    return FilesystemArchiveStore(settings.archive_dir)


def bundle_key(customer_id: str, bundle_id: str) -> str:
    return f"{customer_id}/{bundle_id}.tar"


def export_key(customer_id: str, export_id: str) -> str:
    """Where a customer's own copy of their data waits to be downloaded."""
    return f"exports/{customer_id}/{export_id}.json"


def customer_keys(store: ArchiveStore, customer_id: str) -> list[str]:
    """Everything the store holds of one customer: archive bundles and data exports."""
    return store.keys(f"{customer_id}/") + store.keys(f"exports/{customer_id}/")
