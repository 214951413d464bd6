"""The one Settings object: read once from CLOSEOUT_* variables and passed down."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from limits import parse as parse_rate_limit
from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from closeout.connectors.config import AnyConnector, parse_connectors, read_secret
from closeout.crypto.keyring import decode_master_key, dev_master_key
from closeout.crypto.purpose_keys import (
    GENERATE_SECRET,
    KeyPurpose,
    RecordKeys,
    secret_key_for,
    secret_weakness,
)
from closeout.crypto.ring_config import KeyRingKind, KmsKeyPair, check_key_ring, ring_ids
from closeout.detection.config import DetectionConfig
from closeout.domain import Role, Trigger
from closeout.operations_settings import OperationsSettings
from closeout.policy_config import (
    DEMO_POLICY,
    STANDARD_POLICY,
    PolicyConfig,
    PolicyRule,
)
from closeout.storage.settings import StorageSettings
from closeout.temporal_tls import check_temporal_tls
from closeout.users.oidc_config import check_oidc

if TYPE_CHECKING:
    from closeout.crypto.kms import KmsMasterKeys

# A placeholder that only dev mode accepts: the validator below refuses it elsewhere.
DEV_SECRET = "dev-only-secret-change-me"  # nosec B105
DEV_MASTER_KEY_ID = "dev"


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_exposed_dev_mode(dev_mode: bool, host: str) -> None:
    """Dev mode (demo password, built-in secrets) only ever answers this machine."""
    if dev_mode and not is_loopback(host):
        raise ValueError(
            f"dev mode only serves a loopback address (127.0.0.1, ::1 or localhost), "
            f"not {host!r}: its demo users' password and built-in secrets are public; "
            "turn CLOSEOUT_DEV_MODE off to serve other machines"
        )


class Settings(BaseSettings, StorageSettings, OperationsSettings):
    """Configuration of every Closeout process (the storage choices in StorageSettings)."""

    # A refused value is named, never echoed (it may be a secret).
    model_config = SettingsConfigDict(
        env_prefix="CLOSEOUT_", env_nested_delimiter="__", hide_input_in_errors=True
    )

    dev_mode: bool = False
    var_dir: Path = Path("var")
    database_url: str = "sqlite:///var/closeout.db"

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    # TLS to the Temporal frontend: on when set true, or when a CA, a client certificate, a
    # server name or an API key is set. A client certificate with its key gives mutual TLS.
    temporal_tls_enabled: bool | None = None
    temporal_tls_ca_file: Path | None = None
    temporal_tls_cert_file: Path | None = None
    temporal_tls_key_file: Path | None = None
    # The name the server's certificate carries, when it is not the address's host.
    temporal_tls_server_name: str | None = None
    # Sent as `Authorization: Bearer <key>` (Temporal Cloud, or a server with an authorizer).
    temporal_api_key: SecretStr | None = None

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # /docs, /redoc and /openapi.json: served in dev mode, elsewhere only when this is true
    # (a published schema maps every operation for whoever finds the server).
    api_docs: bool = False
    # Where customers reach the answer pages; defaults to the API's own address.
    public_base_url: str | None = None

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_security: SmtpSecurity = SmtpSecurity.NONE
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = 10.0
    # CA bundle that signed the SMTP server's certificate, when it is not a public CA.
    smtp_ca_file: Path | None = None
    mail_from: str = "Closeout <closeout@example.com>"
    company_name: str = "Example Company"
    # The currency the CRM's amounts (kept in cents) are in, ISO 4217: pages show them as
    # money in the reader's language.
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    company_contact: str = "privacy@example.com"
    # Replies: when set, every notice to a customer carries a Reply-To address of its own at
    # this domain (`reply+<token>@<domain>`, closeout/inbound/address.py), whose mail reaches
    # Closeout's inbound endpoint (an MX record or a forwarding rule).
    inbound_domain: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
    )
    # The largest message the inbound endpoint accepts (SMTP SIZE); larger ones are refused.
    inbound_max_bytes: int = Field(default=10 * 1024 * 1024, ge=10_000, le=100 * 1024 * 1024)
    # Where `closeout inbound` listens unless told otherwise; in dev mode, where the caught
    # mail's "reply" button sends its replies.
    inbound_host: str = "127.0.0.1"
    inbound_port: int = Field(default=2525, ge=1, le=65535)
    # A customer's own request (trigger customer_request) is answered within this (GDPR art.
    # 12(3): one month), extendable once or more by at most `request_extension_max` in all,
    # with a reason told to the customer.
    request_deadline: timedelta = Field(default=timedelta(days=30), gt=timedelta(0))
    request_extension_max: timedelta = Field(default=timedelta(days=60), ge=timedelta(0))
    # Or a mailbox the replies land in, read by `closeout inbound --imap`: imaps://user@host/
    # Mailbox (closeout/inbound/imap.py), its password apart, looked at every so many seconds.
    inbound_imap_url: str | None = None
    inbound_imap_password: str | None = None
    inbound_imap_every: int = Field(default=60, ge=5, le=3600)
    # The company's own systems beside the reference CRM (closeout/connectors/config.py): a
    # JSON list, or the path of a JSON or TOML file holding one.
    connectors: Annotated[list[AnyConnector], NoDecode] = Field(default_factory=list)
    # Staff sign-in with the company's identity provider (closeout/users/oidc.py): its issuer
    # URL (https; http only on loopback), this client's id and secret (or a file holding it),
    # and which group gives which role (a JSON object, first match wins). Local passwords
    # stay for small installs and break-glass admins.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_client_secret_file: Path | None = None
    oidc_role_map: dict[str, Role] = Field(default_factory=dict)
    oidc_groups_claim: str = "groups"
    oidc_scopes: str = "openid email profile"
    # A CA bundle to trust for the provider instead of the system's (a company's own CA).
    oidc_ca_file: Path | None = None
    # The sign-in button's words: "Sign in with <this>".
    oidc_label: str = "your company account"

    archive_dir: Path = Path("var/archive")
    # The suppression ledger (keyed hashes of deleted customers). Keep it apart from the
    # database's backups, on storage that only appends: it is what stops a restored database
    # copy from bringing a deleted customer back. Defaults to var_dir/suppression-ledger.jsonl.
    suppression_ledger: Path | None = None
    mail_catcher_dir: Path = Path("var/mail")

    secret_key: str = DEV_SECRET
    # Master keys that wrap the customers' data keys: id -> 32 bytes, base64. New data keys
    # are wrapped with `master_key_id` (the only key when there is one); older ids stay
    # until `closeout keys rotate` re-wrapped everything. Dev mode derives one when unset.
    master_keys: dict[str, SecretStr] = Field(default_factory=dict)
    # The ring id new data keys are wrapped under, whichever ring holds the master keys.
    master_key_id: str | None = None
    # Or the master keys stay in AWS KMS (closeout/crypto/kms.py): `kms`, with ring id ->
    # {"wrap": symmetric key, "mac": HMAC_256 key} (ids, ARNs or aliases). Credentials come
    # from boto3's usual chain (AWS_* variables, profiles, roles), never from here.
    key_ring: KeyRingKind = KeyRingKind.LOCAL
    kms_keys: dict[str, KmsKeyPair] = Field(default_factory=dict)
    kms_endpoint_url: str | None = None
    kms_region: str | None = None
    _kms: KmsMasterKeys | None = PrivateAttr(default=None)
    # Temporal payloads (workflow inputs, Update arguments, activity results) are encrypted
    # with keys derived from the master keys; the server stores ciphertext only.
    payload_encryption: bool = True
    # Outside dev mode a plain payload is refused, so nobody without the master keys can start
    # a case or send an Update. Set true only while histories from before encryption drain.
    accept_plain_payloads: bool = False
    # Signed-in sessions: how long they last at most, how long they survive unused, and
    # whether the cookie is sent over HTTPS only (by default it is, except in dev mode).
    session_max_age: timedelta = timedelta(hours=8)
    session_idle: timedelta = timedelta(hours=2)
    session_cookie_secure: bool | None = None
    link_ttl: timedelta = timedelta(days=30)
    # How long a customer's data export can be downloaded.
    export_ttl: timedelta = timedelta(days=7)
    # Sign-in attempts allowed per account and per client address ("N per M minutes");
    # counted in the API process's memory.
    sign_in_limit_per_account: str = "5 per 15 minutes"
    sign_in_limit_per_address: str = "20 per 15 minutes"
    # Trust ledger entries and certificates made before they named a master key (keyed with
    # the secret key). Turn off once `closeout keys rekey-records` has moved them.
    legacy_records: bool = True
    # Refused customer links (forged, expired, used) a client address may ask for in a minute;
    # past that it gets 429 until the minute is over. A customer clicks a few at most.
    refused_links_per_minute: int = Field(default=30, ge=1)
    # Workers join the Temporal Worker Deployment `closeout` as this build (default: the
    # package version); off, they poll unversioned (a server without worker deployments).
    worker_versioning: bool = True
    build_id: str | None = Field(default=None, min_length=1, max_length=255)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    default_policy: str = "standard"
    policy_rules: list[PolicyRule] = Field(default_factory=list)
    policies: dict[str, PolicyConfig] = Field(default_factory=lambda: {"standard": STANDARD_POLICY})

    @field_validator("connectors", mode="before")
    @classmethod
    def _connectors(cls, value: Any) -> list[AnyConnector]:
        return parse_connectors(value)

    @field_validator("sign_in_limit_per_account", "sign_in_limit_per_address")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse_rate_limit(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a limit like '5 per 15 minutes'") from exc
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if not self.dev_mode and self.secret_key == DEV_SECRET:
            raise ValueError(
                "CLOSEOUT_SECRET_KEY must be set to a real secret outside dev mode "
                "(the built-in value only works with CLOSEOUT_DEV_MODE=true)"
            )
        weakness = None if self.dev_mode else secret_weakness(self.secret_key)
        if weakness is not None:
            raise ValueError(
                f"CLOSEOUT_SECRET_KEY is too weak ({weakness}): it must hold 32 random bytes, "
                f"e.g. 43 base64url characters or 64 hex digits; generate one with "
                f"`{GENERATE_SECRET}`"
            )
        refuse_exposed_dev_mode(self.dev_mode, self.api_host)
        check_key_ring(self)
        return self

    @model_validator(mode="after")
    def _known_policies(self) -> Settings:
        # Not the cached property: a copy with other policies must not find it filled in.
        known = {**self.policies, **({"demo": DEMO_POLICY} if self.dev_mode else {})}
        for n, rule in enumerate(self.policy_rules, start=1):
            if rule.policy not in known:
                raise ValueError(
                    f"CLOSEOUT_POLICY_RULES: rule {n} names the unknown policy {rule.policy!r} "
                    f"(known: {', '.join(sorted(known))})"
                )
        return self

    def policy_for(self, trigger: Trigger, value_tier: str | None, country: str | None) -> str:
        """The policy of a case opened without one: the first rule that holds, or the default."""
        for rule in self.policy_rules:
            if rule.holds(trigger, value_tier, country):
                return rule.policy
        return self.default_policy

    @model_validator(mode="after")
    def _check_oidc(self) -> Settings:
        check_oidc(self)
        return self

    def oidc_secret(self) -> str | None:
        """The OIDC client secret, read from its file when one is named."""
        return read_secret(
            "CLOSEOUT_OIDC_CLIENT_SECRET_FILE",
            self.oidc_client_secret,
            self.oidc_client_secret_file,
        )

    @model_validator(mode="after")
    def _check_temporal_tls(self) -> Settings:
        check_temporal_tls(self)
        return self

    @property
    def temporal_tls(self) -> bool:
        """Whether connections to Temporal use TLS."""
        if self.temporal_tls_enabled is not None:
            return self.temporal_tls_enabled
        return any(value is not None for value in self.temporal_tls_options().values()) or (
            self.temporal_api_key is not None
        )

    def temporal_tls_options(self) -> dict[str, object]:
        return {
            "CLOSEOUT_TEMPORAL_TLS_CA_FILE": self.temporal_tls_ca_file,
            "CLOSEOUT_TEMPORAL_TLS_CERT_FILE": self.temporal_tls_cert_file,
            "CLOSEOUT_TEMPORAL_TLS_KEY_FILE": self.temporal_tls_key_file,
            "CLOSEOUT_TEMPORAL_TLS_SERVER_NAME": self.temporal_tls_server_name,
        }

    @property
    def plain_payloads_accepted(self) -> bool:
        """Whether a Temporal payload may arrive unencrypted (dev mode, or while draining)."""
        return self.dev_mode or self.accept_plain_payloads

    @property
    def active_master_key_id(self) -> str:
        if self.master_key_id is not None:
            return self.master_key_id
        ids = ring_ids(self)
        if not ids:
            return DEV_MASTER_KEY_ID
        if len(ids) == 1:
            return ids[0]
        raise ValueError(
            "CLOSEOUT_MASTER_KEY_ID must say which of several master keys wraps new data keys"
        )

    def master_roots(self) -> dict[str, bytes]:
        """The 32-byte root of every master key id, from whichever ring holds them: what the
        ledger's, the certificates' and the payloads' keys are derived from."""
        if self.key_ring is KeyRingKind.KMS:
            return self.kms().roots()
        if not self.master_keys:
            return {DEV_MASTER_KEY_ID: dev_master_key(self.secret_key)}
        return {k: decode_master_key(k, v.get_secret_value()) for k, v in self.master_keys.items()}

    def kms(self) -> KmsMasterKeys:
        """The KMS client, ring and roots of these settings: built once, kept with them."""
        # boto3 is loaded only where KMS holds the master keys.
        from closeout.crypto.kms import KmsConfig, KmsMasterKeys

        config = KmsConfig(
            self.kms_keys, self.active_master_key_id, self.kms_endpoint_url, self.kms_region
        )
        # A copy made with other KMS settings must not reuse this one's client.
        if self._kms is None or self._kms.config != config:
            self._kms = KmsMasterKeys(config)
        return self._kms

    def purpose_key(self, purpose: KeyPurpose) -> bytes:
        """The key of a short-lived purpose (sessions, links, exports), from the secret key."""
        return secret_key_for(self.secret_key, purpose)

    def record_keys(self) -> RecordKeys:
        """The keys of the ledger and the certificates: from the master keys, by id (and the
        secret key for records made before they named a key, while those are trusted)."""
        legacy = self.secret_key if self.legacy_records else None
        return RecordKeys(self.master_roots(), self.active_master_key_id, legacy_secret=legacy)

    @property
    def suppression_ledger_path(self) -> Path:
        return self.suppression_ledger or self.var_dir / "suppression-ledger.jsonl"

    @property
    def secure_cookies(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return not self.dev_mode

    @property
    def serves_api_docs(self) -> bool:
        return self.dev_mode or self.api_docs

    @property
    def base_url(self) -> str:
        """The public address of the API, without a trailing slash."""
        return (self.public_base_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @cached_property
    def available_policies(self) -> dict[str, PolicyConfig]:
        """The configured policies, plus the `demo` policy in dev mode."""
        policies = dict(self.policies)
        if self.dev_mode:
            policies.setdefault("demo", DEMO_POLICY)
        return policies
