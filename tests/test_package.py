"""Closeout as a package: the wheel built from the tree, installed (not editable) in a fresh
virtualenv outside the checkout, is a whole Closeout — migrations, templates, locales and
static files included, every subpackage found."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
# What the wheel is built from: the tree as the Dockerfile copies it, nothing else.
SOURCES = (
    "pyproject.toml", "README.md", "worker.py",
    "closeout", "workflows", "activities", "api", "cli", "templates", "static",
)  # fmt: skip


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """No CLOSEOUT_* and no PYTHONPATH from the test run: only the installed package."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CLOSEOUT_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        {
            "CLOSEOUT_DEV_MODE": "true",
            "CLOSEOUT_DATABASE_URL": f"sqlite:///{tmp_path}/var/closeout.db",
            "CLOSEOUT_VAR_DIR": str(tmp_path / "var"),
        }
    )
    return env


def test_the_wheel_installed_in_a_fresh_virtualenv_runs(tmp_path: Path) -> None:
    source, dist, venv, elsewhere = (tmp_path / d for d in ("src", "dist", "venv", "elsewhere"))
    source.mkdir()
    elsewhere.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(source)], tmp_path)
    (wheel,) = dist.glob("closeout-*.whl")

    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python, closeout = venv / "bin" / "python", venv / "bin" / "closeout"
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          str(wheel)], tmp_path)  # fmt: skip
    env = _clean_env(tmp_path)

    # Everything comes from the virtualenv, none from the checkout.
    where = _run(
        [str(python), "-c", "import api, cli, closeout, workflows, activities, worker;"
         "print('\\n'.join(m.__file__ for m in (api, cli, closeout, workflows, activities,"
         " worker)))"],
        elsewhere, env,
    )  # fmt: skip
    for line in where.split():
        assert line.startswith(str(venv)), line

    upgraded = _run([str(closeout), "db", "upgrade"], elsewhere, env)
    assert "is at head" in upgraded
    assert (tmp_path / "var" / "closeout.db").stat().st_size > 0

    port = free_port()
    api = subprocess.Popen(
        [str(closeout), "api", "--host", "127.0.0.1", "--port", str(port)],
        cwd=elsewhere,
        env={**env, "CLOSEOUT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        login = _wait_for(f"{base}/login", api)
        assert login.status_code == 200 and 'name="csrf_token"' in login.text
        # The locales came along: the same page in Chinese.
        chinese = httpx.get(f"{base}/login", headers={"Accept-Language": "zh-CN"}, timeout=10)
        assert chinese.status_code == 200 and "登录" in chinese.text and "登录" not in login.text
        # And the static files the page links to.
        sheets = [part.split('"')[0] for part in login.text.split('href="/static/')[1:]]
        assert sheets, "the page links no style sheet"
        for sheet in sheets:
            assert httpx.get(f"{base}/static/{sheet}", timeout=10).status_code == 200
    finally:
        api.terminate()
        api.wait(timeout=30)


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"the installed API exited ({process.returncode}):\n{output}")
        try:
            return httpx.get(url, timeout=5)
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"the installed API did not answer {url} within 60 s")
