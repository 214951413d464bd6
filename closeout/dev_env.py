"""`var/dev.env`: the configuration `closeout dev` ran with, left in the checkout so that the
commands run there afterwards (`closeout audit verify`, `closeout users list`, …) reach the same
database, Temporal and mail in dev mode without repeating it.

The file is written by `closeout dev` into its var directory and read by the command line from
the var directory of the directory it runs in. It applies only:

- in the checkout it was written for (the directory `closeout dev` ran in, recorded inside),
  from a file of the user's own that nobody else may write;
- when the environment configures no deployment of its own: none of `CLOSEOUT_SECRET_KEY`,
  `CLOSEOUT_MASTER_KEYS`, `CLOSEOUT_KEY_RING`, `CLOSEOUT_KMS_KEYS`, `CLOSEOUT_DATABASE_URL`,
  `CLOSEOUT_TEMPORAL_ADDRESS` and `CLOSEOUT_DEV_MODE` set, in any case (a deployment sets its
  secret key and database, so a stray file never turns one into dev mode);
- under the variables the environment sets itself, which always win.

It holds no secret: variables whose names speak of a secret, password, key or token are left
out (dev mode has its own), and so are values spanning lines.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping, MutableMapping
from pathlib import Path

DEV_ENV = "dev.env"
_CHECKOUT = "CHECKOUT"
_PREFIX = "CLOSEOUT_"
# Set in the environment: a deployment of its own, whatever the file says.
_DEPLOYMENT = frozenset({
    "CLOSEOUT_SECRET_KEY", "CLOSEOUT_MASTER_KEYS", "CLOSEOUT_KEY_RING", "CLOSEOUT_KMS_KEYS",
    "CLOSEOUT_DATABASE_URL", "CLOSEOUT_TEMPORAL_ADDRESS", "CLOSEOUT_DEV_MODE",
})  # fmt: skip
_SECRET = re.compile(r"SECRET|PASSWORD|KEY|TOKEN|CONNECTORS", re.IGNORECASE)
_BREAKS = re.compile(r"[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def write_dev_env(var_dir: Path, environ: Mapping[str, str], checkout: Path) -> Path:
    """Record the CLOSEOUT_* configuration of a `closeout dev` run (dev mode forced on)."""
    values = {
        k: v
        for k, v in sorted(environ.items())
        if k.startswith(_PREFIX) and not _SECRET.search(k) and not _BREAKS.search(v)
    }
    values |= {"CLOSEOUT_DEV_MODE": "true"}
    lines = [
        "# Written by `closeout dev`: the commands run in this checkout use this configuration",
        "# (closeout/dev_env.py). Never used elsewhere, nor where CLOSEOUT_SECRET_KEY or",
        "# CLOSEOUT_DEV_MODE is set.",
        f"{_CHECKOUT}={checkout.resolve()}",
        *(f"{k}={v}" for k, v in values.items()),
    ]
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / DEV_ENV
    # Made afresh, the user's alone from the start, never through a link, then put in place.
    fresh = var_dir / f".{DEV_ENV}.{os.getpid()}"
    fresh.unlink(missing_ok=True)
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    os.replace(fresh, path)
    return path


def read_dev_env(path: Path) -> dict[str, str]:
    """The file's KEY=VALUE lines (comments and blank lines skipped)."""
    found: dict[str, str] = {}
    for line in path.read_text().split("\n"):
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            found[key.strip()] = value
    return found


def apply_dev_env(
    environ: MutableMapping[str, str] | None = None, cwd: Path | None = None
) -> Path | None:
    """Fill the environment from this checkout's var/dev.env, where it applies (see the
    module's text); the file applied, or None."""
    env = os.environ if environ is None else environ
    if any(k.upper() in _DEPLOYMENT for k in env):
        return None
    here = (cwd or Path.cwd()).resolve()
    var_dir = Path(next((v for k, v in env.items() if k.upper() == "CLOSEOUT_VAR_DIR"), "var"))
    path = (var_dir if var_dir.is_absolute() else here / var_dir) / DEV_ENV
    try:
        found = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o022:
        return None  # a link, someone else's, or writable by others: not this checkout's own
    values = read_dev_env(path)
    if values.pop(_CHECKOUT, None) != str(here):
        return None
    present = {k.upper() for k in env}
    for key, value in values.items():
        if key.startswith(_PREFIX) and key not in present:
            env[key] = value
    return path
