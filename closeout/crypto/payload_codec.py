"""Temporal payloads encrypted before they leave the process (AES-256-GCM).

Workflow inputs are ids and enums, but some Update arguments carry people's words (a
decision's comment, a customer's objection, a hold's reason): the Temporal server and its
history store only ciphertext. Keys derive from the master keys, named in each payload, so
a rotated master key still opens older histories while it stays configured.

Outside dev mode a plain payload is refused on decode: whoever reaches the Temporal server
without the master keys cannot start a case or send an Update that a worker would act on.
The codec stands a refusal marker in its place rather than raising, so the refusal lands
where the payload is read: a forged Update is rejected, a forged start fails its workflow.
Raising in the codec would fail the whole workflow task instead, again on every retry, and
wedge a real case behind a forged Update.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload
from temporalio.converter import EncodingPayloadConverter, PayloadCodec
from temporalio.exceptions import ApplicationError

from closeout.payload_converter import SharedAdaptersPayloadConverter

ENCODING = b"binary/encrypted"
# Stands in for a plain payload outside dev mode; no converter ever turns it into a value.
REFUSED_ENCODING = b"binary/plain-refused"
REFUSAL_TYPE = "PlainPayloadRefused"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


def payload_key(master_key: bytes) -> bytes:
    """The payload key of one master key (never the master key itself)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"closeout-payload-codec"
    ).derive(master_key)


def refused() -> Payload:
    """The marker standing in for a payload that is not to be trusted."""
    return Payload(metadata={"encoding": REFUSED_ENCODING})


class PlainPayloadRefused(ApplicationError):
    """A payload arrived unencrypted where only Closeout's own encrypted payloads are accepted."""

    def __init__(self) -> None:
        super().__init__(
            "a plain (unencrypted) payload was refused: outside dev mode only payloads "
            "encrypted under Closeout's master keys are accepted",
            type=REFUSAL_TYPE,
            non_retryable=True,
        )


class RefusedPayloadConverter(EncodingPayloadConverter):
    """Reads the refusal marker as the refusal it stands for; never writes one."""

    @property
    def encoding(self) -> str:
        return REFUSED_ENCODING.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        raise PlainPayloadRefused()


class RefusingPayloadConverter(SharedAdaptersPayloadConverter):
    """The pydantic payload converter that also understands the codec's refusal marker."""

    def __init__(self) -> None:
        super().__init__()
        self._set_converters(RefusedPayloadConverter(), *self.converters.values())


class PayloadCipher(PayloadCodec):
    """Encrypts every payload; decodes Closeout's and, when `accept_plain`, plain ones too.

    Plain payloads are accepted in dev mode (the Web UI and the `temporal` CLI send them) and
    while histories written before encryption was turned on drain.
    """

    def __init__(self, master_keys: dict[str, bytes], current: str, *, accept_plain: bool) -> None:
        self._keys = {key_id: payload_key(key) for key_id, key in master_keys.items()}
        self._current = current
        self.accept_plain = accept_plain

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key = AESGCM(self._keys[self._current])
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: self._current.encode()},
                    data=nonce + key.encrypt(nonce, payload.SerializeToString(), None),
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                if not self.accept_plain:
                    decoded.append(refused())
                    continue
                decoded.append(payload)  # dev mode, or written before payloads were encrypted
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
            key = self._keys.get(key_id)
            if key is None:
                # A configuration to mend (a master key still needed was removed): raised, so
                # the workflow task waits for it rather than failing the case.
                raise ValueError(f"payload encrypted under master key {key_id!r}, not configured")
            data = payload.data
            try:
                plain = AESGCM(key).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None)
            except InvalidTag as exc:
                if not self.accept_plain:
                    decoded.append(refused())  # forged or damaged: refused, as plain ones are
                    continue
                raise ValueError("an encrypted payload failed its integrity check") from exc
            decoded.append(Payload.FromString(plain))
        return decoded
