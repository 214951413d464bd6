"""Master keys held in AWS KMS: data keys wrapped by KMS, roots made by a KMS HMAC key.

Wrapping is envelope encryption: KMS encrypts each 32-byte data key under the symmetric
key of the current ring id, bound to the data key's context (KMS's encryption context), and
decrypts it only with that context and that key. Records name the ring id, never the ARN.

The ledger's keyed references, the certificates' signatures and the Temporal payload keys
are derived (HKDF) from a 32-byte root per ring id, and must be derivable again for decades.
A KMS HMAC key gives that without Closeout storing anything: the root is the HMAC-SHA256 of
`closeout/root/<ring id>` under the ring id's HMAC key, the same for as long as that key
exists; its key material never leaves KMS. A process asks once and keeps the roots.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from closeout.crypto.keyring import KEY_BYTES, KeyServiceUnreachable, KeyUnavailable, WrappedKey
from closeout.crypto.ring_config import KmsKeyPair

if TYPE_CHECKING:
    from types_boto3_kms import KMSClient

# Each call gives up after these (seconds), and is tried at most this often in all (standard
# mode retries throttling and 5xx answers with backoff), so a stuck KMS fails an activity
# attempt in well under a minute and Temporal's retry policy takes over.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 10
MAX_ATTEMPTS = 3
# The encryption context's one entry: the data key's own context, readable in CloudTrail.
CONTEXT_NAME = "closeout"
MAC_ALGORITHM: Final = "HMAC_SHA_256"
# Answers that may pass: the next attempt (an activity's retry) can succeed.
_PASSING = frozenset(
    {
        "ThrottlingException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "LimitExceededException",
        "RequestLimitExceeded",
        "ServiceUnavailableException",
    }
)


def root_message(ring_id: str) -> bytes:
    """What the ring id's HMAC key signs to give its root: the id is part of it."""
    return f"closeout/root/{ring_id}".encode()


def kms_client(endpoint_url: str | None, region: str | None) -> KMSClient:
    """A KMS client with timeouts and bounded retries; credentials from boto3's usual chain
    (AWS_* variables, a profile, an instance or task role), never from Closeout's settings."""
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )
    # A session of its own: boto3's default one keeps the first credentials it found for the
    # life of the process, and is not to be shared between threads.
    session = boto3.session.Session()
    try:
        return session.client("kms", endpoint_url=endpoint_url, region_name=region, config=config)
    except NoRegionError as exc:
        raise KeyUnavailable(
            "no AWS region to reach KMS in: set CLOSEOUT_KMS_REGION (or AWS_REGION)"
        ) from exc


def as_key_error(error: Exception, ring_id: str, doing: str) -> Exception:
    """KeyUnavailable for a refusal (it will not change by asking again),
    KeyServiceUnreachable for what may pass; both name the ring id and what was being done."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "unknown")
        # One line, and not a whole error page from a proxy in the way.
        detail = " ".join(error.response.get("Error", {}).get("Message", "").split())[:300]
        said = f"{code}: {detail}" if detail else code
        if code in _PASSING:
            return KeyServiceUnreachable(
                f"KMS did not {doing} under master key {ring_id!r} ({said})"
            )
        return KeyUnavailable(f"KMS refused to {doing} under master key {ring_id!r} ({said})")
    if isinstance(error, NoCredentialsError):
        return KeyUnavailable(
            f"no AWS credentials to {doing} under master key {ring_id!r}: give the process "
            "AWS_* variables, a profile or a role"
        )
    return KeyServiceUnreachable(
        f"KMS did not answer to {doing} under master key {ring_id!r}: {error}"
    )


def _encryption_context(context: bytes) -> dict[str, str]:
    try:
        return {CONTEXT_NAME: context.decode("utf-8")}
    except UnicodeDecodeError as exc:
        raise ValueError("a KMS encryption context must be UTF-8 text") from exc


class KmsKeyRing:
    """The KeyRing port on AWS KMS: ring id -> the KMS key that wraps under it."""

    def __init__(self, client: KMSClient, wrap_keys: Mapping[str, str], current: str) -> None:
        if current not in wrap_keys:
            raise ValueError(f"the current master key {current!r} is not among the KMS keys")
        self._client = client
        self._keys = dict(wrap_keys)
        self._current = current

    @property
    def current_key_id(self) -> str:
        return self._current

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        try:
            answer = self._client.encrypt(
                KeyId=self._keys[self._current],
                Plaintext=data_key,
                EncryptionContext=_encryption_context(context),
            )
        except (ClientError, BotoCoreError) as exc:
            raise as_key_error(exc, self._current, "wrap a data key") from exc
        return WrappedKey(self._current, answer["CiphertextBlob"])

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        key_id = self._keys.get(wrapped.master_key_id)
        if key_id is None:
            raise KeyUnavailable(
                f"master key {wrapped.master_key_id!r} is not configured in CLOSEOUT_KMS_KEYS"
            )
        try:
            answer = self._client.decrypt(
                CiphertextBlob=wrapped.blob,
                EncryptionContext=_encryption_context(context),
                KeyId=key_id,
            )
        except (ClientError, BotoCoreError) as exc:
            raise as_key_error(exc, wrapped.master_key_id, "unwrap a data key") from exc
        return answer["Plaintext"]


def fetch_root(client: KMSClient, ring_id: str, mac_key: str) -> bytes:
    """The 32-byte root of one ring id, made by its HMAC key in KMS (the same every time)."""
    try:
        answer = client.generate_mac(
            KeyId=mac_key, MacAlgorithm=MAC_ALGORITHM, Message=root_message(ring_id)
        )
    except (ClientError, BotoCoreError) as exc:
        raise as_key_error(exc, ring_id, "make the root") from exc
    root = answer["Mac"]
    if len(root) != KEY_BYTES:
        raise KeyUnavailable(
            f"the MAC key of master key {ring_id!r} gave {len(root)} bytes, not {KEY_BYTES}: "
            "it must be an HMAC_256 key"
        )
    return root


@dataclass(frozen=True)
class KmsConfig:
    """What a process needs to reach its master keys in KMS (no secret among it)."""

    keys: Mapping[str, KmsKeyPair]
    current: str
    endpoint_url: str | None = None
    region: str | None = None


@dataclass
class KmsMasterKeys:
    """A process's master keys in KMS: one client, its key ring, and the roots, asked once."""

    config: KmsConfig
    client: KMSClient = field(init=False)
    _roots: dict[str, bytes] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.client = kms_client(self.config.endpoint_url, self.config.region)

    def ring(self) -> KmsKeyRing:
        wrap_keys = {ring_id: pair.wrap for ring_id, pair in self.config.keys.items()}
        return KmsKeyRing(self.client, wrap_keys, self.config.current)

    def roots(self) -> dict[str, bytes]:
        """Every ring id's root; a failure is not kept, so the next call asks again."""
        with self._lock:
            if self._roots is None:
                self._roots = {
                    ring_id: fetch_root(self.client, ring_id, pair.mac)
                    for ring_id, pair in self.config.keys.items()
                }
            return dict(self._roots)
