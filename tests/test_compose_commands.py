"""Every Closeout service of docker-compose.yml run as the compose file says, outside Docker.

The resolved compose configuration gives each service's command and environment; only what
Docker would provide is rewritten: the hosts of the database, Temporal and SMTP to real
servers on loopback, the published port to a free one, and each path under a volume mount to
a folder standing for that volume. A variable missing, misspelt or pointing off a volume fails
here, not on the operator's first deletion.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from closeout.db import alembic_config
from closeout.devstack import temporal_server_command
from tests.support import VENV_BIN, free_port, start_mail_sink
from tests.test_deployment import ROOT, SECRETS

CLOSEOUT_SERVICES = ("migrate", "api", "worker")


def _compose_config() -> dict[str, Any]:
    result = subprocess.run(
        [str(VENV_BIN / "docker-compose"), "-f", str(ROOT / "docker-compose.yml"), "config",
         "--format", "json"],
        capture_output=True, text=True, env={**os.environ, **SECRETS}, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Mount point in the container -> volume name."""
    return {v["target"]: v["source"] for v in service.get("volumes", []) if v["type"] == "volume"}


def _on_mount(path: str, mounts: dict[str, str]) -> str | None:
    return next(
        (target for target in mounts if path == target or path.startswith(target + "/")), None
    )


def test_every_path_closeout_writes_lies_on_a_volume_of_its_service() -> None:
    services = _compose_config()["services"]
    for name in CLOSEOUT_SERVICES:
        service = services[name]
        mounts = _mounts(service)
        paths = {k: v for k, v in service["environment"].items() if str(v).startswith("/")}
        assert {"CLOSEOUT_ARCHIVE_DIR", "CLOSEOUT_VAR_DIR", "CLOSEOUT_SUPPRESSION_LEDGER"} <= set(
            paths
        )
        off = {k: v for k, v in paths.items() if _on_mount(v, mounts) is None}
        assert not off, f"{name}: not on a volume: {off}"
    # Restoring the database's volume must not restore the ledger: a volume of its own.
    ledger = services["worker"]["environment"]["CLOSEOUT_SUPPRESSION_LEDGER"]
    mounts = _mounts(services["worker"])
    ledger_volume = mounts[_on_mount(ledger, mounts) or ""]
    others = {
        mounts[_on_mount(services["worker"]["environment"][k], mounts) or ""]
        for k in ("CLOSEOUT_ARCHIVE_DIR", "CLOSEOUT_VAR_DIR")
    }
    assert ledger_volume not in others | {"app-db", "temporal-db"}


@dataclass
class Outside:
    """The servers and folders that stand in for the compose network and its volumes."""

    root: Path
    services: dict[str, Any]
    postgres: str
    temporal_port: int
    smtp_port: int
    database: str = ""

    def new_database(self) -> str:
        """A fresh, empty database (gone with the test server), now the services' own."""
        name = f"compose_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"{self.postgres}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.database = f"{self.postgres}/{name}"
        return self.database

    def env(self, name: str, **overrides: str) -> dict[str, str]:
        environment = dict(self.services[name]["environment"])
        for key, host in (
            ("CLOSEOUT_DATABASE_URL", "app-db:5432"),
            ("CLOSEOUT_TEMPORAL_ADDRESS", "temporal:7233"),
            ("CLOSEOUT_SMTP_HOST", "mail"),
        ):
            assert host in environment[key], (name, key)
        environment["CLOSEOUT_DATABASE_URL"] = self.database
        environment["CLOSEOUT_TEMPORAL_ADDRESS"] = f"127.0.0.1:{self.temporal_port}"
        environment["CLOSEOUT_SMTP_HOST"] = "127.0.0.1"
        environment["CLOSEOUT_SMTP_PORT"] = str(self.smtp_port)
        mounts = _mounts(self.services[name])
        for key, value in environment.items():
            target = _on_mount(str(value), mounts)
            if target is not None:
                volume = self.root / "volumes" / mounts[target]
                volume.mkdir(parents=True, exist_ok=True)
                environment[key] = str(volume) + str(value).removeprefix(target)
        host, _, port = environment["CLOSEOUT_WORKER_METRICS_ADDRESS"].rpartition(":")
        assert host == "0.0.0.0" and port == "9464"  # nosec B104 - the container's own
        environment["CLOSEOUT_WORKER_METRICS_ADDRESS"] = f"127.0.0.1:{free_port()}"
        shell = {k: v for k, v in os.environ.items() if not k.startswith("CLOSEOUT_")}
        return {**shell, **environment, "PYTHONUNBUFFERED": "1", **overrides}

    def command(self, name: str) -> list[str]:
        command = list(self.services[name]["command"])
        assert command[0] == "closeout"
        return [str(VENV_BIN / "closeout"), *command[1:]]

    def run(self, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, env=env, cwd=self.root, capture_output=True, text=True, timeout=120, check=False
        )

    def check_config(self, **overrides: str) -> subprocess.CompletedProcess[str]:
        test = self.services["worker"]["healthcheck"]["test"]
        assert test[:2] == ["CMD", "closeout"]
        return self.run([str(VENV_BIN / "closeout"), *test[2:]], self.env("worker", **overrides))


@pytest.fixture(scope="module")
def outside(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outside]:
    root = tmp_path_factory.mktemp("compose")
    temporal_port = free_port()
    temporal = subprocess.Popen(
        temporal_server_command(
            "127.0.0.1", temporal_port, root / "temporal.db", log_level="error",
            extra=["--http-port", str(free_port()), "--metrics-port", str(free_port())],
        ),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    sink, controller = start_mail_sink()
    try:
        yield Outside(
            root,
            _compose_config()["services"],
            postgres_server,
            temporal_port,
            sink.port,
        )
    finally:
        controller.stop()
        temporal.terminate()
        temporal.wait(timeout=20)


def _schema_heads(url: str) -> tuple[set[str], set[str]]:
    from alembic.script import ScriptDirectory

    with psycopg.connect(url) as conn:
        current = {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
    return current, set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def _wait(check: Any, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while not check():
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited {proc.returncode}: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start: {log.read_text()[-3000:]}")
        time.sleep(0.2)


def _answers(url: str, **headers: str) -> int | None:
    try:
        return httpx.get(url, headers=headers, timeout=2).status_code
    except httpx.HTTPError:
        return None


def test_the_services_run_as_the_compose_file_says(outside: Outside) -> None:
    outside.new_database()
    # Before the migrations the check names the schema, and nothing else.
    early = outside.check_config()
    assert early.returncode == 1
    problems = [line for line in early.stderr.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 1 and problems[0].startswith("problem: database: "), early.stderr

    migrated = outside.run(outside.command("migrate"), outside.env("migrate"))
    assert migrated.returncode == 0, migrated.stderr
    current, heads = _schema_heads(outside.database)
    assert current == heads

    checked = outside.check_config()
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok: ")

    procs: list[subprocess.Popen[bytes]] = []
    try:
        api_port = free_port()
        api_command = outside.command("api")
        assert api_command[-4:] == ["--host", "0.0.0.0", "--port", "8000"]  # nosec B104
        api_log = outside.root / "api.log"
        api_env = outside.env("api")
        with api_log.open("wb") as log:
            api = subprocess.Popen(
                [*api_command[:-4], "--host", "127.0.0.1", "--port", str(api_port)],
                env=api_env, cwd=outside.root, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        procs.append(api)
        base = f"http://127.0.0.1:{api_port}"
        _wait(lambda: _answers(f"{base}/healthz") == 200, "the API", api, api_log)
        token = api_env["CLOSEOUT_METRICS_TOKEN"]
        assert _answers(f"{base}/metrics", Authorization=f"Bearer {token}") == 200
        assert _answers(f"{base}/metrics") in {401, 403, 404}

        worker_env = outside.env("worker")
        worker_log = outside.root / "worker.log"
        with worker_log.open("wb") as log:
            worker = subprocess.Popen(
                outside.command("worker"), env=worker_env, cwd=outside.root, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        procs.append(worker)
        _wait(lambda: "worker polling task queue" in worker_log.read_text(), "the worker",
              worker, worker_log)  # fmt: skip
        metrics = f"http://{worker_env['CLOSEOUT_WORKER_METRICS_ADDRESS']}/metrics"
        assert _answers(metrics) == 200
        # JSON log lines, as CLOSEOUT_LOG_FORMAT says.
        polling = next(
            line for line in worker_log.read_text().splitlines() if "worker polling" in line
        )
        assert json.loads(polling)["message"].startswith("worker polling task queue")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)


def test_check_config_names_what_is_wrong(outside: Outside, tmp_path: Path) -> None:
    outside.new_database()
    migrated = outside.run(outside.command("migrate"), outside.env("migrate"))
    assert migrated.returncode == 0, migrated.stderr
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    unwritable = outside.check_config(CLOSEOUT_SUPPRESSION_LEDGER=str(blocked / "ledger.jsonl"))
    assert unwritable.returncode == 1
    assert "problem: ledger: CLOSEOUT_SUPPRESSION_LEDGER=" in unwritable.stderr
    assert "cannot append" in unwritable.stderr

    weak = outside.check_config(CLOSEOUT_SECRET_KEY="password")
    assert weak.returncode == 1
    assert "CLOSEOUT_SECRET_KEY is too weak" in weak.stderr

    unreachable = outside.check_config(CLOSEOUT_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    assert unreachable.returncode == 1
    assert "problem: temporal: " in unreachable.stderr
