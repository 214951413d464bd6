"""One key per purpose, derived with HKDF-SHA256, so no two uses ever share a key.

Short-lived secrets (session cookies, answer links, export links) come from the secret key:
rotating it ends every session and every link that is out. Records kept for years (the
suppression ledger's keyed references, the deletion certificates' signatures) come from the
master keys instead, and each record names the master key id it was made under: rotating
the secret key leaves them readable, and a new master key only changes what new records use.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import string
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from closeout.crypto.keyring import KEY_BYTES, KeyUnavailable, customer_ref, derived_key

# What a secret key must hold: 32 random bytes, written as 43 base64url characters or 64 hex
# digits (or anything at least as long and as varied).
MIN_SECRET_BITS = 8 * KEY_BYTES
MIN_SECRET_CHARS = 43
MIN_HEX_SECRET_CHARS = 64
# The command that makes a secret key, quoted in error messages; no secret itself.
GENERATE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # nosec B105


class KeyPurpose(StrEnum):
    """What a derived key is for; the name is part of the derivation."""

    SESSIONS = "sessions"
    # Forms' CSRF tokens, derived from the session id: apart from the cookie's signature.
    CSRF = "csrf"
    LINKS = "links"
    EXPORTS = "exports"
    # Per-case reply addresses in notices (closeout/inbound/address.py).
    REPLIES = "replies"
    CERTIFICATES = "certificates"
    LEDGER = "ledger"
    # Client addresses of refused links, audited as keyed digests.
    CLIENT_ADDRESSES = "client-addresses"


@functools.lru_cache(maxsize=64)  # looked up once per customer in a ledger scan
def purpose_key(root: bytes, purpose: KeyPurpose) -> bytes:
    """A 32-byte key for `purpose`, derived from `root` (HKDF-SHA256)."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=b"closeout.purpose-key.v1",
        info=f"closeout/{purpose}".encode(),
    ).derive(root)


def secret_key_for(secret: str, purpose: KeyPurpose) -> bytes:
    """A key for one of the secret key's purposes (sessions, links, exports)."""
    return purpose_key(secret.encode(), purpose)


def secret_weakness(secret: str) -> str | None:
    """Why `secret` cannot be a secret key outside dev mode; None when it can.

    Random text of the required length always passes; what fails is short text and text
    whose characters repeat so much (`aaaa…`, `abab…`) that it cannot hold 256 bits.
    """
    hex_only = all(c in string.hexdigits for c in secret)
    needed = MIN_HEX_SECRET_CHARS if hex_only else MIN_SECRET_CHARS
    if len(secret) < needed:
        return f"it has {len(secret)} characters, fewer than {needed}"
    counts = Counter(secret)
    # The characters' own spread, an upper bound on what a guesser must try per character;
    # random 43-character base64url text measures about 200 bits, `aaaa…` zero.
    spread = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    if spread * len(secret) < MIN_SECRET_BITS / 2:
        return "its characters repeat too much to be random"
    return None


@dataclass(frozen=True)
class RecordKeys:
    """Keys for the ledger and the certificates, by master key id.

    `legacy_secret` reads what was written before records named a key id: the ledger's
    entries and certificates from then were keyed by the secret key itself.
    """

    roots: Mapping[str, bytes]
    current_id: str
    legacy_secret: str | None = None

    def key(self, purpose: KeyPurpose, key_id: str) -> bytes:
        root = self.roots.get(key_id)
        if root is None:
            raise KeyUnavailable(
                f"master key {key_id!r} is not configured: keep it in CLOSEOUT_MASTER_KEYS "
                "(or CLOSEOUT_KMS_KEYS) while ledger entries or certificates name it"
            )
        return purpose_key(root, purpose)

    def customer_ref(self, customer_id: str, key_id: str | None = None) -> str:
        """A keyed hash of a customer id under one master key (the current one by default)."""
        key = self.key(KeyPurpose.LEDGER, key_id or self.current_id)
        return hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()

    def legacy_customer_ref(self, customer_id: str) -> str | None:
        if self.legacy_secret is None:
            return None
        return customer_ref(self.legacy_secret, customer_id)

    def legacy_certificate_key(self) -> bytes | None:
        if self.legacy_secret is None:
            return None
        return derived_key(self.legacy_secret, "deletion-certificate")
