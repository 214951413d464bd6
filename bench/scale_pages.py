"""Staff pages over HTTP against their bare twins, on one grown database.

The API runs as `closeout dev` runs it (uvicorn, one process) in a process of its own; the
twin (`bench/scale_bare.py`) in another. Requests go one at a time, a page then its twin, so
both meet the same machine at the same moment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.scale_seed import SIGNED_IN, Grown
from closeout.devstack import api_command
from closeout.users.accounts import DEMO_PASSWORD
from tests.support import free_port

COMPLIANCE_OFFICER = "kim.compliance@example.com"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BARE = Path(__file__).resolve().parent / "scale_bare.py"


def api_env(url: str, root: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "CLOSEOUT_DEV_MODE": "true",
        "CLOSEOUT_DATABASE_URL": url,
        "CLOSEOUT_VAR_DIR": str(root),
        "CLOSEOUT_ARCHIVE_DIR": str(root / "archive"),
        "CLOSEOUT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        # Nothing answers there: the pages measured here read rows only.
        "CLOSEOUT_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
    }


def _wait_up(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer within 60 s")


@contextmanager
def serving(url: str, root: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """The API and the bare twin on the database at `url`: their base URLs."""
    api_port, bare_port = free_port(), free_port()
    environment = {**api_env(url, root, api_port), **(env or {})}
    log = open(root / "api.log", "ab")  # noqa: SIM115 - open as long as the process runs
    procs = [
        subprocess.Popen(api_command("127.0.0.1", api_port), env=environment,
                         stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, str(BARE), url, str(bare_port)], env=environment,
                         stdout=log, stderr=subprocess.STDOUT),
    ]  # fmt: skip
    try:
        api, bare = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
        _wait_up(f"{api}/login", procs[0], "the API")
        _wait_up(f"{bare}/raw/task?id=none", procs[1], "the bare twin")
        yield api, bare
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
        log.close()


def signed_in(api: str, email: str) -> httpx.Client:
    """A browser's session: signed in through the form, CSRF token and all."""
    client = httpx.Client(base_url=api, timeout=60)
    found = CSRF.search(client.get("/login").text)
    assert found, "the sign-in form has no CSRF token"
    answer = client.post(
        "/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": found.group(1)}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in as {email} answered {answer.status_code}")
    return client


@dataclass(frozen=True)
class Timing:
    page: list[float]
    bare: list[float]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def _time(get: Callable[[int], httpx.Response], i: int, what: str) -> float:
    started = time.perf_counter()
    answer = get(i)
    took = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"{what} answered {answer.status_code}: {answer.text[:300]}")
    return took


Pages = dict[str, tuple[Callable[[int], httpx.Response], Callable[[int], httpx.Response]]]


def _pages(api: str, bare: str, grown: Grown, clients: list[httpx.Client]) -> Pages:
    """Each page a signed-in person asks for, with its twin."""
    manager, officer = signed_in(api, SIGNED_IN), signed_in(api, COMPLIANCE_OFFICER)
    raw = httpx.Client(base_url=bare, timeout=60)
    clients += [manager, officer, raw]
    tasks = grown.signed_in_tasks
    return {
        "inbox": (
            lambda i: manager.get("/inbox"),
            lambda i: raw.get("/raw/inbox", params={"who": SIGNED_IN}),
        ),
        "task page": (
            lambda i: manager.get(f"/tasks/{tasks[i % len(tasks)]}"),
            lambda i: raw.get("/raw/task", params={"id": tasks[i % len(tasks)]}),
        ),
        "case list": (
            lambda i: manager.get("/cases"),
            lambda i: raw.get("/raw/cases", params={"who": SIGNED_IN}),
        ),
        "retention clocks": (
            lambda i: officer.get("/compliance"),
            lambda i: raw.get("/raw/compliance"),
        ),
    }


def measure_pages(sizes: list[tuple[str, str, Grown]], requests: int) -> list[dict[str, Timing]]:
    """Each page `requests` times at every size (API, twin, grown database), after a few
    unmeasured: the sizes take turns request by request, each page followed by its twin, so
    all of them meet the machine in the same state however its other work comes and goes."""
    clients: list[httpx.Client] = []
    at_size = [_pages(api, bare, grown, clients) for api, bare, grown in sizes]
    timings: list[dict[str, Timing]] = [{} for _ in sizes]
    for name in at_size[0]:
        for i in range(max(3, requests // 10)):
            for pages in at_size:
                page, twin = pages[name]
                _time(page, i, name)
                _time(twin, i, f"{name} twin")
        for n in range(len(sizes)):
            timings[n][name] = Timing([], [])
        for i in range(requests):
            for n, pages in enumerate(at_size):
                page, twin = pages[name]
                timings[n][name].page.append(_time(page, i, name))
                timings[n][name].bare.append(_time(twin, i, f"{name} twin"))
    for client in clients:
        client.close()
    return timings
