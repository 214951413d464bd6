"""Sealing bytes with a data key: AES-256-GCM, bound to what they are (the associated data)."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CLOSEOUT-SEALED/1\n"
NONCE_BYTES = 12


class Unreadable(Exception):
    """Sealed bytes that this key and context do not open (wrong key, altered, or moved)."""


def is_sealed(blob: bytes) -> bool:
    return blob.startswith(MAGIC)


def seal(data_key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(data_key).encrypt(nonce, plaintext, context)


def open_sealed(data_key: bytes, blob: bytes, context: bytes) -> bytes:
    if not is_sealed(blob):
        raise Unreadable("not a sealed blob")
    body = blob[len(MAGIC) :]
    try:
        return AESGCM(data_key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], context)
    except InvalidTag as exc:
        raise Unreadable("the data key does not open these bytes") from exc
