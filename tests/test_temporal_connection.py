"""Every process reaches Temporal as the settings say: plaintext, TLS, mutual TLS, API key."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import trustme
from pydantic import ValidationError
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from closeout.settings import Settings
from closeout.temporal import TemporalUnreachable, connect, temporal_connection
from tests.support import VENV_BIN
from tests.tls_proxy import server_context, tls_proxy


def _pems(tmp_path: Path, ca: trustme.CA) -> dict[str, Path]:
    client = ca.issue_cert("closeout-worker")
    files = {
        "ca": (tmp_path / "ca.pem", ca.cert_pem.bytes()),
        "cert": (tmp_path / "client.pem", client.cert_chain_pems[0].bytes()),
        "key": (tmp_path / "client.key", client.private_key_pem.bytes()),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return {name: path for name, (path, _) in files.items()}


def test_plaintext_by_default_and_tls_from_the_settings(tmp_path: Path) -> None:
    plain = temporal_connection(Settings(dev_mode=True))
    assert (plain.target_host, plain.namespace, plain.tls, plain.api_key) == (
        "127.0.0.1:7233",
        "default",
        False,
        None,
    )
    pems = _pems(tmp_path, trustme.CA())
    mtls = temporal_connection(
        Settings(
            dev_mode=True,
            temporal_address="temporal.internal:7233",
            temporal_namespace="closeout",
            temporal_tls_ca_file=pems["ca"],
            temporal_tls_cert_file=pems["cert"],
            temporal_tls_key_file=pems["key"],
            temporal_tls_server_name="temporal.closeout.test",
            temporal_api_key="key-123",  # type: ignore[arg-type]
        )
    )
    assert mtls.tls == TLSConfig(
        server_root_ca_cert=pems["ca"].read_bytes(),
        client_cert=pems["cert"].read_bytes(),
        client_private_key=pems["key"].read_bytes(),
        domain="temporal.closeout.test",
    )
    assert mtls.api_key == "key-123" and "key-123" not in repr(mtls)
    assert mtls.described == (
        "temporal.internal:7233 (namespace closeout, mutual TLS, with an API key)"
    )
    # An API key alone turns TLS on with the system's CAs, as Temporal Cloud expects.
    cloud = temporal_connection(
        Settings(dev_mode=True, temporal_api_key="k")  # type: ignore[arg-type]
    )
    assert cloud.tls == TLSConfig() and cloud.api_key == "k"
    assert temporal_connection(Settings(dev_mode=True, temporal_tls_enabled=True)).tls == (
        TLSConfig()
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"temporal_tls_ca_file": "/nowhere/ca.pem"},
            "CLOSEOUT_TEMPORAL_TLS_CA_FILE=/nowhere/ca.pem: cannot be read (No such file",
        ),
        ({"temporal_tls_ca_file": "{readme}"}, "not a PEM file"),
        ({"temporal_tls_cert_file": "{cert}"}, "CERT_FILE and CLOSEOUT_TEMPORAL_TLS_KEY_FILE go"),
        (
            {"temporal_tls_enabled": False, "temporal_tls_ca_file": "{ca}"},
            "CLOSEOUT_TEMPORAL_TLS_CA_FILE set, but CLOSEOUT_TEMPORAL_TLS_ENABLED=false",
        ),
        (
            {"temporal_tls_enabled": False, "temporal_api_key": "k", "dev_mode": False},
            "CLOSEOUT_TEMPORAL_API_KEY would travel in clear",
        ),
        ({"temporal_api_key": " "}, "CLOSEOUT_TEMPORAL_API_KEY is set but empty"),
    ],
)
def test_bad_tls_settings_are_refused_clearly(
    tmp_path: Path, values: dict[str, object], message: str
) -> None:
    pems = _pems(tmp_path, trustme.CA())
    readme = tmp_path / "readme.txt"
    readme.write_text("not a certificate")
    fill = {"ca": str(pems["ca"]), "cert": str(pems["cert"]), "readme": str(readme)}
    base: dict[str, object] = {
        "dev_mode": True,
        "secret_key": "3vX4s8VdTt0WNpuigiVzsEglf3CzIqKZKnux7OWx3vs",
        "master_keys": {"k1": "ZmFrZS1rZXktZm9yLWNvbXBvc2UtdmFsaWRhdGlvbiE="},
    }
    resolved = {k: v.format(**fill) if isinstance(v, str) else v for k, v in values.items()}
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        Settings(**{**base, **resolved})  # type: ignore[arg-type]


def test_the_cli_names_a_missing_certificate_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "closeout"), "worker"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("CLOSEOUT_")},
            "CLOSEOUT_DEV_MODE": "true",
            "CLOSEOUT_TEMPORAL_TLS_CA_FILE": str(tmp_path / "missing-ca.pem"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "CLOSEOUT_TEMPORAL_TLS_CA_FILE=" in result.stderr
    assert "missing-ca.pem: cannot be read" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
async def dev_server() -> AsyncIterator[str]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(VENV_BIN / "temporal"),
        dev_server_extra_args=["--headless"],
    )
    yield env.client.service_client.config.target_host
    await env.shutdown()


async def test_a_tls_client_fails_clearly_against_a_plaintext_server(dev_server: str) -> None:
    settings = Settings(dev_mode=True, temporal_address=dev_server, temporal_tls_enabled=True)
    with pytest.raises(TemporalUnreachable) as refused:
        await connect(settings)
    message = str(refused.value)
    assert message.startswith(
        f"cannot connect to Temporal at {dev_server} (namespace default, TLS)"
    )
    assert "check that the server speaks TLS" in message


async def test_tls_and_mutual_tls_through_a_terminating_proxy(
    dev_server: str, tmp_path: Path
) -> None:
    ca = trustme.CA()
    pems = _pems(tmp_path, ca)
    seen: list[dict[str, str]] = []
    context = server_context(ca, require_client_cert=False)
    async with tls_proxy(dev_server, context, seen) as address:
        tls = Settings(
            dev_mode=True,
            temporal_address=address,
            temporal_tls_ca_file=pems["ca"],
            temporal_tls_server_name="temporal.closeout.test",
            temporal_api_key="key-123",  # type: ignore[arg-type]
        )
        client = await connect(tls)
        assert await client.service_client.check_health(timeout=timedelta(seconds=5))
        assert client.api_key == "key-123"
        # The key reaches the server with every call, as a bearer token an authorizer checks.
        calls = [h for h in seen if h.get(":path", "").startswith("/temporal.api.")]
        assert calls and all(h.get("authorization") == "Bearer key-123" for h in calls)
        # A certificate from another CA is not trusted.
        other = tmp_path / "other-ca.pem"
        other.write_bytes(trustme.CA().cert_pem.bytes())
        with pytest.raises(TemporalUnreachable, match="cannot connect to Temporal at"):
            await connect(tls.model_copy(update={"temporal_tls_ca_file": other}))
    async with tls_proxy(dev_server, server_context(ca, require_client_cert=True)) as address:
        mutual = tls.model_copy(update={"temporal_address": address, "temporal_api_key": None})
        with pytest.raises(TemporalUnreachable):
            client = await connect(mutual)
            await client.service_client.check_health(timeout=timedelta(seconds=5))
        mutual = mutual.model_copy(
            update={
                "temporal_tls_cert_file": pems["cert"],
                "temporal_tls_key_file": pems["key"],
            }
        )
        client = await connect(mutual)
        assert await client.service_client.check_health(timeout=timedelta(seconds=5))
