"""A PostgreSQL server the fault matrix can stop (as a crash would) and start again."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from tests.postgres import postgres_bindir
from tests.support import free_port


class PostgresServer:
    """PostgreSQL on a loopback port, from Debian's binaries, run as the `postgres` user."""

    def __init__(self) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (scripts/install-system-deps.sh)")
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="closeout-faults-pg-"))
        self.data, sock = self.base / "data", self.base / "sock"
        sock.mkdir()
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(sock, "postgres", "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.url = f"postgresql://closeout@127.0.0.1:{self.port}"
        self.options = (
            f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=300"
        )
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "closeout", "--no-sync")
        self.start()

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self.prefix, str(self.bindir / program), *args], check=True, capture_output=True
        )

    def start(self) -> None:
        log = str(self.base / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", self.options, "-l", log, "-w", "start")

    def crash(self) -> None:
        """Stopped at once, as a crash would: every connection cut, nothing shut down cleanly."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def new_database(self) -> str:
        name = f"faults_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"{self.url}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{self.url}/{name}"

    def remove(self) -> None:
        subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
             "stop"],
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)
