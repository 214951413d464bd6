"""moto in server mode: a real AWS endpoint (S3, KMS, IAM) on a loopback port, and the fake
credentials boto3's standard chain finds while tests use it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.support import VENV_BIN, free_port, wait_until_answers

# So boto3 signs its requests with nothing from the machine's own AWS setup; moto accepts any.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
UNSET_AWS = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN")


def fake_aws(environment: pytest.MonkeyPatch) -> None:
    for name, value in FAKE_AWS.items():
        environment.setenv(name, value)
    for name in UNSET_AWS:
        environment.delenv(name, raising=False)


def start_moto(**env: str) -> tuple[subprocess.Popen[bytes], str]:
    """A moto server on a free loopback port, once it answers; its URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_answers(process, f"{url}/moto-api/", "moto_server")
    return process, url


def stop_moto(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto server for the session (S3 and KMS alike), the fake credentials set while it
    runs."""
    with pytest.MonkeyPatch.context() as environment:
        fake_aws(environment)
        process, url = start_moto()
        try:
            yield url
        finally:
            stop_moto(process)
