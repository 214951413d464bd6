"""A real OpenID Connect provider (django-oidc-provider, tests/oidc_provider/serve.py) on a
loopback port, in a process of its own: its users, their groups, one confidential client."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVE = Path(__file__).resolve().parent / "serve.py"
CLIENT_ID, CLIENT_SECRET = "closeout", "closeout-client-secret"


@dataclass(frozen=True)
class Provider:
    issuer: str
    db: Path

    def set_groups(self, username: str, groups: list[str]) -> None:
        """What the company's administrators do at the provider: a person's groups change."""
        with sqlite3.connect(self.db) as conn:
            (user_id,) = conn.execute(
                "SELECT id FROM auth_user WHERE username = ?", (username,)
            ).fetchone()
            conn.execute("DELETE FROM auth_user_groups WHERE user_id = ?", (user_id,))
            for name in groups:
                conn.execute("INSERT OR IGNORE INTO auth_group (name) VALUES (?)", (name,))
                (group_id,) = conn.execute(
                    "SELECT id FROM auth_group WHERE name = ?", (name,)
                ).fetchone()
                conn.execute(
                    "INSERT INTO auth_user_groups (user_id, group_id) VALUES (?, ?)",
                    (user_id, group_id),
                )


@contextmanager
def oidc_provider(
    root: Path, redirect_uri: str, after_sign_out: str, users: list[str]
) -> Iterator[Provider]:
    """`users`: name:password:email:group1,group2 each."""
    db = root / "provider.sqlite3"
    args = [
        sys.executable, str(SERVE), "--port", "0", "--db", str(db),
        "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
        "--redirect-uri", redirect_uri, "--post-logout-redirect-uri", after_sign_out,
    ]  # fmt: skip
    for user in users:
        args += ["--user", user]
    log = (root / "provider.log").open("ab")
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"the OIDC provider did not start: see {root / 'provider.log'}")
    try:
        yield Provider(line.split(" ", 1)[1], db)
    finally:
        process.terminate()
        process.wait(10)
        log.close()
