"""The key port: master keys that wrap data keys (a KMS can take the local ring's place)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12


class KeyUnavailable(Exception):
    """A wrapped key names a master key the ring does not hold, or does not unwrap."""


class KeyServiceUnreachable(Exception):
    """The service holding the master keys did not answer in time: try again later."""


@dataclass(frozen=True)
class WrappedKey:
    master_key_id: str
    blob: bytes


class KeyRing(Protocol):
    """Wraps and unwraps data keys; never hands out a master key."""

    @property
    def current_key_id(self) -> str: ...

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes: ...


class LocalKeyRing:
    """Master keys held in the process (from settings); AES-256-GCM key wrapping."""

    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"the current master key {current!r} is not among the keys")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise ValueError(f"master key {key_id!r} must be {KEY_BYTES} bytes")
        self._keys = dict(keys)
        self._current = current

    @property
    def current_key_id(self) -> str:
        return self._current

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._keys[self._current]).encrypt(nonce, data_key, context)
        return WrappedKey(self._current, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        key = self._keys.get(wrapped.master_key_id)
        if key is None:
            raise KeyUnavailable(f"master key {wrapped.master_key_id!r} is not configured")
        nonce, sealed = wrapped.blob[:NONCE_BYTES], wrapped.blob[NONCE_BYTES:]
        try:
            return AESGCM(key).decrypt(nonce, sealed, context)
        except InvalidTag as exc:
            raise KeyUnavailable(
                f"master key {wrapped.master_key_id!r} does not unwrap this data key"
            ) from exc


def decode_master_key(key_id: str, text: str) -> bytes:
    """A master key from settings: 32 bytes, base64 (standard or URL-safe)."""
    try:
        raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "==")
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"master key {key_id!r} is not base64") from exc
    if len(raw) != KEY_BYTES:
        raise ValueError(f"master key {key_id!r} must decode to {KEY_BYTES} bytes")
    return raw


def derived_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose, derived from the app secret (HKDF-SHA256)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=f"closeout-{purpose}".encode()
    ).derive(secret.encode())


def dev_master_key(secret: str) -> bytes:
    """Dev mode only: a master key derived from the app secret, so `make dev` just runs."""
    return derived_key(secret, "dev-master-key")


def new_master_key() -> str:
    """A fresh master key, as settings take it."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def customer_ref(secret: str, customer_id: str) -> str:
    """A keyed hash of a customer id: names a deleted customer without being personal data."""
    key = derived_key(secret, "customer-ref")
    return hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()
