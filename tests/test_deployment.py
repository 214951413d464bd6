"""The production compose file is valid, and refers only to services it defines."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import VENV_BIN

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "CLOSEOUT_SECRET_KEY": "3vX4s8VdTt0WNpuigiVzsEglf3CzIqKZKnux7OWx3vs",
    "CLOSEOUT_MASTER_KEYS": '{"k1": "ZmFrZS1rZXktZm9yLWNvbXBvc2UtdmFsaWRhdGlvbiE="}',
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
