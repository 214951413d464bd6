"""The metrics token, the worker's metrics address and the log format, as settings take them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from closeout.settings import Settings
from closeout.temporal import worker_runtime
from tests.support import free_port


@pytest.mark.parametrize("address", ["9464", ":9464", "0.0.0.0:", "host:port", "h:70000"])
def test_a_metrics_address_must_be_host_and_port(address: str) -> None:
    with pytest.raises(ValidationError, match="is not a host:port to listen on"):
        Settings(dev_mode=True, worker_metrics_address=address)


def test_a_log_format_is_text_or_json() -> None:
    with pytest.raises(ValidationError, match="log_format"):
        Settings(dev_mode=True, log_format="xml")


def test_the_default_runtime_serves_as_it_is() -> None:
    assert worker_runtime(Settings(dev_mode=True)) is None


def test_json_logs_or_metrics_get_a_runtime_of_their_own() -> None:
    assert worker_runtime(Settings(dev_mode=True, log_format="json")) is not None
    address = f"127.0.0.1:{free_port()}"
    assert worker_runtime(Settings(dev_mode=True, worker_metrics_address=address)) is not None


@pytest.mark.parametrize("token", ["", "   ", "short-token"])
def test_a_scrape_token_anyone_could_guess_is_refused(token: str) -> None:
    with pytest.raises(ValidationError, match="CLOSEOUT_METRICS_TOKEN must hold at least 32"):
        Settings(dev_mode=True, metrics_token=token)
