"""The production compose file is valid, and refers only to services it defines."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support import VENV_BIN

ROOT = Path(__file__).resolve().parent.parent


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
    env = {**os.environ, "CLOSEOUT_SECRET_KEY": "test-secret"}
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


def test_compose_refuses_to_run_without_a_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CLOSEOUT_SECRET_KEY"}
    result = subprocess.run(
        [str(VENV_BIN / "docker-compose"), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode != 0 and "CLOSEOUT_SECRET_KEY" in result.stderr
