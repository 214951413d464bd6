"""`var/dev.env`: the configuration `closeout dev` ran with, left in the checkout so that the
commands run there afterwards (`closeout audit verify`, `closeout users list`, …) reach the same
database, Temporal and mail in dev mode without repeating it.

The file is written by `closeout dev` into its var directory and read by the command line from
the var directory of the directory it runs in. It applies only:

- in the checkout it was written for (the directory `closeout dev` ran in, recorded inside);
- when the environment configures no deployment of its own: no `CLOSEOUT_SECRET_KEY` and no
  `CLOSEOUT_DEV_MODE` set (a production environment sets its secret key, so a stray file never
  turns a deployment into dev mode);
- under the variables the environment sets itself, which always win.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

DEV_ENV = "dev.env"
_CHECKOUT = "CHECKOUT"
_PREFIX = "CLOSEOUT_"
# Set in the environment: a deployment of its own, whatever the file says.
_DEPLOYMENT = ("CLOSEOUT_SECRET_KEY", "CLOSEOUT_DEV_MODE")


def write_dev_env(var_dir: Path, environ: Mapping[str, str], checkout: Path) -> Path:
    """Record the CLOSEOUT_* configuration of a `closeout dev` run (dev mode forced on)."""
    values = {k: v for k, v in sorted(environ.items()) if k.startswith(_PREFIX) and "\n" not in v}
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
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def read_dev_env(path: Path) -> dict[str, str]:
    """The file's KEY=VALUE lines (comments and blank lines skipped)."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
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
    if any(k in env for k in _DEPLOYMENT):
        return None
    here = (cwd or Path.cwd()).resolve()
    var_dir = Path(env.get("CLOSEOUT_VAR_DIR", "var"))
    path = (var_dir if var_dir.is_absolute() else here / var_dir) / DEV_ENV
    if not path.is_file():
        return None
    values = read_dev_env(path)
    if values.pop(_CHECKOUT, None) != str(here):
        return None
    for key, value in values.items():
        if key.startswith(_PREFIX):
            env.setdefault(key, value)
    return path
