"""The production compose file is valid, and refers only to services it defines."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support import VENV_BIN

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "CLOSEOUT_SECRET_KEY": "3vX4s8VdTt0WNpuigiVzsEglf3CzIqKZKnux7OWx3vs",
    "CLOSEOUT_MASTER_KEYS": '{"k1": "ZmFrZS1rZXktZm9yLWNvbXBvc2UtdmFsaWRhdGlvbiE="}',
    "CLOSEOUT_METRICS_TOKEN": "pHx0pV3c4m3tr1cs-t0ken-for-the-compose-tests",
}


def test_compose_file_matches_the_compose_specification() -> None:
    result = subprocess.run(
        [
            str(VENV_BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_config_resolves_without_an_engine() -> None:
    env = {**os.environ, **SECRETS}
    result = subprocess.run(
        [
            str(VENV_BIN / "docker-compose"),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
            "--services",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {
        "temporal-db",
        "temporal",
        "temporal-ui",
        "app-db",
        "mail",
        "migrate",
        "api",
        "worker",
        "prometheus",
    }


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_run_without_a_secret(missing: str) -> None:
    env = {k: v for k, v in {**os.environ, **SECRETS}.items() if k != missing}
    result = subprocess.run(
        [str(VENV_BIN / "docker-compose"), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode != 0 and missing in result.stderr


def test_only_the_api_is_published_beyond_the_host() -> None:
    """Temporal's frontend, its Web UI and the mail catcher: loopback or the compose network."""
    env = {**os.environ, **SECRETS}
    result = subprocess.run(
        [
            str(VENV_BIN / "docker-compose"),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    published = {
        name: {(p.get("host_ip", "0.0.0.0"), int(p["published"])) for p in service["ports"]}
        for name, service in services.items()
        if service.get("ports")
    }
    assert published.pop("api") == {("0.0.0.0", 8000)}
    assert published == {
        "temporal": {("127.0.0.1", 7233)},
        "temporal-ui": {("127.0.0.1", 8233)},
        "mail": {("127.0.0.1", 8025)},
        "prometheus": {("127.0.0.1", 9090)},
    }
    assert not any("network_mode" in service for service in services.values())


def test_prometheus_reads_the_api_token_where_its_scrape_config_looks() -> None:
    """The token file Prometheus sends to the API's /metrics is the compose file's variable."""
    import yaml

    env = {**os.environ, **SECRETS}
    result = subprocess.run(
        [str(VENV_BIN / "docker-compose"), "-f", str(ROOT / "docker-compose.yml"), "config",
         "--format", "json"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    (given,) = config["services"]["prometheus"]["configs"]
    assert config["configs"][given["source"]]["content"] == SECRETS["CLOSEOUT_METRICS_TOKEN"]
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (api_job,) = [job for job in scrape["scrape_configs"] if job["job_name"] == "closeout-api"]
    assert api_job["authorization"]["credentials_file"] == given["target"]
    (worker_job,) = [j for j in scrape["scrape_configs"] if j["job_name"] == "closeout-worker"]
    port = config["services"]["worker"]["environment"]["CLOSEOUT_WORKER_METRICS_ADDRESS"]
    assert worker_job["static_configs"][0]["targets"] == [f"worker:{port.rpartition(':')[2]}"]
