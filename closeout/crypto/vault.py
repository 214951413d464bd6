"""Archive bundles sealed with their customer's data key before they reach the store."""

from __future__ import annotations

from closeout.archive import ArchiveStore, archive_store_from, bundle_key, export_key
from closeout.crypto.data_keys import ARCHIVE_SCOPE, DataKeys
from closeout.crypto.envelope import Unreadable, is_sealed, open_sealed, seal
from closeout.crypto.keyring import KeyRing, LocalKeyRing
from closeout.crypto.ring_config import KeyRingKind
from closeout.db import Database
from closeout.settings import Settings

# The data key scope of the copies customers download of their own data.
EXPORT_SCOPE = "export"


def _context(customer_id: str, bundle_id: str) -> bytes:
    # A sealed bundle opens only as this customer's bundle of this id.
    return f"closeout-bundle:{customer_id}:{bundle_id}".encode()


def _export_context(customer_id: str, export_id: str) -> bytes:
    return f"closeout-export:{customer_id}:{export_id}".encode()


class ArchiveVault:
    def __init__(self, store: ArchiveStore, keys: DataKeys) -> None:
        self.store = store
        self.keys = keys

    def put_bundle(
        self, customer_id: str, bundle_id: str, data: bytes, scope: str = ARCHIVE_SCOPE
    ) -> str:
        data_key = self.keys.key_or_create(customer_id, scope)
        sealed = seal(data_key, data, _context(customer_id, bundle_id))
        return self.store.put(bundle_key(customer_id, bundle_id), sealed)

    def get_bundle(
        self, customer_id: str, bundle_id: str, scope: str = ARCHIVE_SCOPE
    ) -> bytes | None:
        """The bundle's plain bytes; KeyDestroyed or Unreadable when it cannot be opened."""
        blob = self.store.get(bundle_key(customer_id, bundle_id))
        if blob is None or not is_sealed(blob):
            return blob  # absent, or written before archives were sealed
        data_key = self.keys.key(customer_id, scope)
        return open_sealed(data_key, blob, _context(customer_id, bundle_id))

    def delete_bundle(self, customer_id: str, bundle_id: str) -> bool:
        return self.store.delete(bundle_key(customer_id, bundle_id))

    def put_export(self, customer_id: str, export_id: str, data: bytes) -> str:
        """A customer's own copy of their data, sealed like the archive: destroying their keys
        makes every copy of it unreadable too."""
        data_key = self.keys.key_or_create(customer_id, EXPORT_SCOPE)
        sealed = seal(data_key, data, _export_context(customer_id, export_id))
        return self.store.put(export_key(customer_id, export_id), sealed)

    def get_export(self, customer_id: str, export_id: str) -> bytes | None:
        """The export's plain bytes, None once it is gone; KeyDestroyed once the customer is."""
        blob = self.store.get(export_key(customer_id, export_id))
        if blob is None:
            return None
        if not is_sealed(blob):
            raise Unreadable("an export was stored unsealed")
        return open_sealed(
            self.keys.key(customer_id, EXPORT_SCOPE), blob, _export_context(customer_id, export_id)
        )

    def shred(self, customer_id: str, scope: str | None = None) -> int:
        """Destroy the customer's data keys (of one scope, or all): every copy of what they
        sealed becomes unreadable."""
        return self.keys.destroy(customer_id, scope)


def category_scope(category: str) -> str:
    """The data key scope of one data category's archive bundle."""
    return f"{ARCHIVE_SCOPE}:{category}"


def key_ring(settings: Settings) -> KeyRing:
    """The key ring the settings name: KMS's, or the master keys held in the process."""
    if settings.key_ring is KeyRingKind.KMS:
        return settings.kms().ring()
    # A local master key is its own root: the same 32 bytes wrap and derive.
    return LocalKeyRing(settings.master_roots(), settings.active_master_key_id)


def data_keys_from(settings: Settings, db: Database) -> DataKeys:
    """The customers' data keys, wrapped by the settings' master keys: built here only."""
    return DataKeys(db, key_ring(settings))


def vault_from(settings: Settings, db: Database) -> ArchiveVault:
    """The archive store and data keys the settings name: the one place they are built."""
    return ArchiveVault(archive_store_from(settings), data_keys_from(settings, db))
