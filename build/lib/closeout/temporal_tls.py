"""The Temporal TLS settings checked when they are read: a bad path fails at start, clearly."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from closeout.settings import Settings


def _pem_file(setting: str, path: Path) -> None:
    """A clear error for a TLS file that is missing, unreadable or not PEM."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{setting}={path}: cannot be read ({exc.strerror})") from exc
    if b"-----BEGIN " not in text:
        raise ValueError(f"{setting}={path}: not a PEM file (no -----BEGIN line)")


def check_temporal_tls(settings: Settings) -> None:
    """The Temporal TLS settings agree with each other, and their files can be read."""
    set_options = [k for k, v in settings.temporal_tls_options().items() if v is not None]
    if settings.temporal_tls_enabled is False and set_options:
        raise ValueError(f"{', '.join(set_options)} set, but CLOSEOUT_TEMPORAL_TLS_ENABLED=false")
    if (settings.temporal_tls_cert_file is None) != (settings.temporal_tls_key_file is None):
        raise ValueError(
            "CLOSEOUT_TEMPORAL_TLS_CERT_FILE and CLOSEOUT_TEMPORAL_TLS_KEY_FILE go together "
            "(the client certificate and its private key, for mutual TLS)"
        )
    for setting, path in (
        ("CLOSEOUT_TEMPORAL_TLS_CA_FILE", settings.temporal_tls_ca_file),
        ("CLOSEOUT_TEMPORAL_TLS_CERT_FILE", settings.temporal_tls_cert_file),
        ("CLOSEOUT_TEMPORAL_TLS_KEY_FILE", settings.temporal_tls_key_file),
    ):
        if path is not None:
            _pem_file(setting, path)
    key = settings.temporal_api_key
    if key is not None and not key.get_secret_value().strip():
        raise ValueError("CLOSEOUT_TEMPORAL_API_KEY is set but empty")
    if key is not None and not settings.temporal_tls and not settings.dev_mode:
        raise ValueError(
            "CLOSEOUT_TEMPORAL_API_KEY would travel in clear: it needs TLS "
            "(leave CLOSEOUT_TEMPORAL_TLS_ENABLED unset or set it true)"
        )
