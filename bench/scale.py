"""Load and growth figures: staff pages at a small and a grown size against their bare
queries, the worker's memory with cases waiting in retention, the API under load.

    python bench/scale.py [--open 1000 100000] [--archived-per-open 10] [--db sqlite postgresql]
                          [--requests 200] [--retention 1000 5000] [--cached-workflows N]
                          [--clients 50] [--clicks 1000] [--skip pages worker load] [--quick]

Pages: for each size a fresh database is grown directly (`bench/scale_seed.py`: open cases
waiting on a task, ten archived customers in retention for each), then the inbox, a task
page, the case list and the retention clocks are asked over HTTP by signed-in staff, each
request followed by the page's bare twin (`bench/scale_bare.py`: its one indexed query over
HTTP). Printed per page and size: p50/p95 of page and twin, page/twin at p95, and grown/small
at p95. The API load runs at the grown size, on the same server. Worker: see
`bench/scale_worker.py`. Lines starting with `ratio ` give each target's figure.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.scale_load import link_burst, staff_load
from bench.scale_pages import Timing, measure_pages, percentile, serving
from bench.scale_seed import Grown, grow, grown_before
from bench.scale_worker import worker_memory
from closeout.db import Database, upgrade
from closeout.demo import seed_demo_users
from closeout.users.accounts import Accounts
from tests.postgres import running_postgres

# The staff clients of the load sign in fifty times from one address within a minute.
LOAD_ENV = {
    "CLOSEOUT_SIGN_IN_LIMIT_PER_ADDRESS": "1000 per 15 minutes",
    "CLOSEOUT_SIGN_IN_LIMIT_PER_ACCOUNT": "1000 per 15 minutes",
}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


def grown_database(url: str, open_cases: int, args: argparse.Namespace) -> Grown:
    upgrade(url)
    db = Database.from_url(url)
    seed_demo_users(Accounts(db, dev_mode=True))
    archived = open_cases * args.archived_per_open
    print(f"growing {open_cases:,} open cases and {archived:,} archived customers",
          file=sys.stderr)  # fmt: skip
    grown = grown_before(db, open_cases, archived) or grow(db, open_cases, archived)
    print(f"  {grown.rows:,} rows written", file=sys.stderr)
    db.engine.dispose()
    return grown


def print_pages(open_cases: int, timings: dict[str, Timing]) -> None:
    for name, t in timings.items():
        page95, bare95 = percentile(t.page, 0.95), percentile(t.bare, 0.95)
        print(
            f"[{open_cases:>7,} open] {name:<17} page p50 {ms(percentile(t.page, 0.5))} "
            f"p95 {ms(page95)} ms | bare p50 {ms(percentile(t.bare, 0.5))} "
            f"p95 {ms(bare95)} ms | page/bare p95 {page95 / bare95:.1f}",
            flush=True,
        )


def load_figures(api: str, url: str, grown: Grown, args: argparse.Namespace) -> None:
    db = Database.from_url(url)
    staff = asyncio.run(staff_load(api, db, grown, args.clients, args.each))
    print(staff.line(f"[{grown.open_cases:>7,} open] {args.clients} staff clients"))
    burst = asyncio.run(link_burst(api, grown, args.clicks))
    print(burst.line(f"[{grown.open_cases:>7,} open] burst of {args.clicks} link clicks"))
    print(f"ratio load_failures={staff.failed + burst.failed}")
    db.engine.dispose()


def page_figures(
    name: str, make_url: Callable[[int], str], args: argparse.Namespace, root: Path
) -> None:
    """Both sizes served at once and measured in turns; then the load on the grown one."""
    small, big = args.open
    urls = {n: make_url(n) for n in (small, big)}
    grown = {n: grown_database(urls[n], n, args) for n in (small, big)}
    with (
        serving(urls[small], root, LOAD_ENV) as (small_api, small_bare),
        serving(urls[big], root, LOAD_ENV) as (big_api, big_bare),
    ):
        at_small, at_big = measure_pages(
            [(small_api, small_bare, grown[small]), (big_api, big_bare, grown[big])],
            args.requests,
        )
        print_pages(small, at_small)
        print_pages(big, at_big)
        if "load" not in args.skip:
            load_figures(big_api, urls[big], grown[big], args)
    for page, t in at_big.items():
        p95 = percentile(t.page, 0.95)
        print(
            f"ratio {name} {page}: page/bare p95 at {big:,} "
            f"{p95 / percentile(t.bare, 0.95):.2f} (target <= 3), "
            f"p95 {big:,}/{small:,} {p95 / percentile(at_small[page].page, 0.95):.2f} "
            "(target <= 1.5)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, nargs=2, default=[1_000, 100_000],
                        metavar=("SMALL", "GROWN"))  # fmt: skip
    parser.add_argument("--archived-per-open", type=int, default=10)
    parser.add_argument("--db", nargs="+", default=["sqlite"], choices=["sqlite", "postgresql"])
    parser.add_argument("--requests", type=int, default=200, help="per page and size")
    parser.add_argument("--retention", type=int, nargs="+", default=[1_000, 5_000])
    parser.add_argument(
        "--cached-workflows", type=int, help="the worker's workflow cache (else its setting)"
    )
    parser.add_argument(
        "--straight-to-retention",
        action="store_true",
        help="start the worker's cases as retention runs (bench/scale_worker.py)",
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--each", type=int, default=40, help="requests per staff client")
    parser.add_argument("--clicks", type=int, default=1_000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["pages", "worker", "load"])
    parser.add_argument("--quick", action="store_true", help="a smoke run at tiny sizes")
    parser.add_argument(
        "--data", type=Path, help="keep the grown SQLite databases here, and use them again"
    )
    args = parser.parse_args()
    # Stopped by a signal, the servers and the worker it started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        args.open, args.requests, args.retention = [100, 1_000], 20, [10, 20]
        args.clients, args.each, args.clicks = 10, 5, 100
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "pages" not in args.skip:
            if "sqlite" in args.db:
                data = args.data or root
                page_figures("sqlite", lambda n: f"sqlite:///{data}/pages-{n}.db", args, root)
            if "postgresql" in args.db:
                with running_postgres() as server:

                    def fresh(n: int) -> str:
                        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
                            conn.execute(f'CREATE DATABASE "pages_{n}"')
                        return f"{server}/pages_{n}"

                    page_figures("postgresql", fresh, args, root)
        if "worker" not in args.skip:
            figures = asyncio.run(worker_memory(root / "worker", args.retention,
                                                args.cached_workflows,
                                                args.straight_to_retention))  # fmt: skip
            for size, rss in figures:
                print(f"worker RSS with {size:>6,} cases in retention: {rss:6.0f} MiB")
            (first, low), (last, high) = figures[1], figures[-1]
            print(f"ratio worker RSS {last:,}/{first:,} {high / low:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
