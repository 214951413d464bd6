"""A customer's case history under a key of their own: destroying it shreds the history.

Temporal keeps a closed workflow's history for the namespace's retention, and an Update's
payload can hold people's words (a customer's objection, a decision's comment). The master
keys would still open it after the customer is deleted, so every payload of a customer's case
workflow (`close-customer-<customer id>`, known from Temporal's serialization context) is
sealed under the customer's own history data key instead. Housekeeping destroys that key once
the deleted customer's workflow has closed; from then on no key anywhere opens the history.

Payloads name whose key sealed them, so decoding needs no context (the Web UI's codec calls
carry none). Anything not of a customer's case goes to the master-key cipher underneath.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from closeout.constants import WORKFLOW_ID_PREFIX
from closeout.crypto.data_keys import HISTORY_SCOPE, DataKeys, KeyDestroyed
from closeout.crypto.payload_codec import PayloadCipher, refused

ENCODING = b"binary/encrypted-customer"
CUSTOMER = "customer-id"
NONCE_BYTES = 12
# How long a process keeps a customer's history key in memory: a destroyed key stops
# opening anything here within this time.
KEY_TTL_SECONDS = 60.0
# Past this many keys in memory, the expired ones are dropped.
MAX_CACHED_KEYS = 1024


class HistoryShredded(ValueError):
    """The payload's customer was deleted: their history key no longer exists."""


def customer_of(context: SerializationContext | None) -> str | None:
    """The customer whose case workflow the payloads belong to, if any."""
    workflow_id = getattr(context, "workflow_id", None)
    if not workflow_id or not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return None
    return str(workflow_id).removeprefix(WORKFLOW_ID_PREFIX) or None


@dataclass
class _KeyCache:
    """History keys by customer, each kept a short while (shared by a process's codecs)."""

    keys: DataKeys
    ttl: float = KEY_TTL_SECONDS
    _found: dict[str, tuple[float, bytes]] = field(default_factory=dict)

    async def get(self, customer_id: str, create: bool) -> bytes:
        now = time.monotonic()
        cached = self._found.get(customer_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        lookup = self.keys.key_or_create if create else self.keys.key
        key = await asyncio.to_thread(lookup, customer_id, HISTORY_SCOPE)
        if len(self._found) >= MAX_CACHED_KEYS:  # keys of cases long gone go first
            self._found = {c: f for c, f in self._found.items() if now - f[0] < self.ttl}
        self._found[customer_id] = (now, key)
        return key


class CustomerHistoryCipher(PayloadCodec, WithSerializationContext):
    """Seals a customer case's payloads under the customer's history key."""

    def __init__(self, inner: PayloadCodec, keys: DataKeys, customer_id: str | None = None) -> None:
        self.inner = inner
        self._cache = _KeyCache(keys)
        self.customer_id = customer_id

    def with_context(self, context: SerializationContext) -> Self:
        inner = self.inner
        if isinstance(inner, WithSerializationContext):
            inner = inner.with_context(context)
        copy = self.__class__.__new__(self.__class__)
        copy.inner, copy._cache, copy.customer_id = inner, self._cache, customer_of(context)
        return copy

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self.customer_id is None:
            return await self.inner.encode(payloads)
        key = AESGCM(await self._cache.get(self.customer_id, create=True))
        aad = self.customer_id.encode()
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, CUSTOMER: aad},
                    data=nonce + key.encrypt(nonce, payload.SerializeToString(), aad),
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        # Order kept: customer-sealed ones opened here, the rest by the cipher underneath.
        others = [p for p in payloads if p.metadata.get("encoding") != ENCODING]
        opened_others = iter(await self.inner.decode(others) if others else [])
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(next(opened_others))
                continue
            decoded.append(await self._open(payload))
        return decoded

    async def _open(self, payload: Payload) -> Payload:
        customer_id = payload.metadata.get(CUSTOMER, b"").decode(errors="replace")
        if self.customer_id is not None and customer_id != self.customer_id:
            # Copied out of another customer's case: it opens nowhere but there.
            return self._untrusted(f"a payload of customer {customer_id!r} in another's case")
        try:
            key = await self._cache.get(customer_id, create=False)
        except KeyDestroyed as exc:
            if not await asyncio.to_thread(self._cache.keys.existed, customer_id, HISTORY_SCOPE):
                return self._untrusted(f"no history key was ever made for {customer_id!r}")
            raise HistoryShredded(
                f"payload of deleted customer {customer_id!r}: its history key was destroyed"
            ) from exc
        data = payload.data
        try:
            plain = AESGCM(key).decrypt(
                data[:NONCE_BYTES], data[NONCE_BYTES:], customer_id.encode()
            )
        except InvalidTag:
            return self._untrusted("an encrypted payload failed its integrity check")
        return Payload.FromString(plain)

    def _untrusted(self, why: str) -> Payload:
        """A forged or misplaced payload: refused like a plain one where those are (workers and
        clients outside dev mode), so it fails the one request it came with, not the case."""
        if isinstance(self.inner, PayloadCipher) and not self.inner.accept_plain:
            return refused()
        raise ValueError(why)
