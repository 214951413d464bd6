"""The fault matrix on the real stack, N rounds: `make bench-faults` (`--rounds N`, `--db`).

Each round starts a fresh stack (Temporal dev server on a file, worker, API, SMTP sink, the
read model on SQLite or PostgreSQL) and runs, one after the other:

- a worker SIGKILLed in each stage of a case (one case per stage, all at once), held before
  the stage's activity does anything in odd rounds, after its effects in even ones;
- the Temporal dev server SIGKILLed mid-run and restarted on its file and port;
- the SMTP server gone (connections refused) for minutes, then back on its port;
- the database unreachable for a minute (PostgreSQL stopped as a crash would, then started;
  SQLite is a file inside the worker's and the API's own processes, with no server to lose);
- two workers on the task queue, one SIGKILLed and not replaced.

Every case must end deleted with one backup, one revocation, each mail once by Message-ID
and one certificate; the audit chain must verify. The table counts faults injected, cases
finished right, duplicates, losses, and messages received again under their one Message-ID
after a send the audit trail flags as uncertain.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.faults.cases import CaseDriver, FaultCase
from tests.faults.checks import chain_intact
from tests.faults.database import PostgresServer
from tests.faults.holds import STAGES, Moment
from tests.faults.stack import WORKER, FaultStack, start_fault_stack

CASES_PER_FAULT = 4
SECOND_WORKER = "worker-2"


@dataclass
class Tally:
    """One row of the table."""

    fault: str
    injected: int = 0
    cases: int = 0
    finished: int = 0
    duplicates: int = 0
    losses: int = 0
    resent: int = 0

    def row(self) -> str:
        return (
            f"| {self.fault} | {self.injected} | {self.cases} | {self.finished} "
            f"| {self.duplicates} | {self.losses} | {self.resent} |"
        )


async def _wait_all_past(
    stack: FaultStack, cases: list[FaultCase], stage: str, within: float
) -> None:
    """Until every case has left the stages before `stage` (read in the read model)."""
    order = ["opened", "win_back", "notice", "approval", "awaiting_effective_date", "backup"]
    order += ["revoke_access", "archive", "retention", "deletion", "closed"]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        stages = _stages(stack, cases)
        if stages and all(order.index(s) >= order.index(stage) for s in stages):
            return
        await asyncio.sleep(0.5)


def _stages(stack: FaultStack, cases: list[FaultCase]) -> list[str]:
    from sqlmodel import col, select

    from closeout.cases.models import CaseRecord

    ids = [c.case_id for c in cases if c.case_id]
    if len(ids) < len(cases):
        return []
    db = stack.db
    try:
        with db.session() as session:
            return list(
                session.exec(select(CaseRecord.stage).where(col(CaseRecord.id).in_(ids))).all()
            )
    except Exception:  # the database may be the part that is down
        return []
    finally:
        db.engine.dispose()


async def _kill_temporal(stack: FaultStack, cases: list[FaultCase]) -> int:
    await _wait_all_past(stack, cases, "awaiting_effective_date", within=300)
    stack.kill("temporal")
    await asyncio.sleep(2)
    stack.start_temporal()
    return 1


async def _smtp_outage(stack: FaultStack, seconds: float) -> int:
    stack.stop_mail()
    await asyncio.sleep(seconds)
    stack.start_mail()
    return 1


async def _database_outage(stack: FaultStack, cases: list[FaultCase], seconds: float) -> int:
    assert stack.postgres is not None
    await _wait_all_past(stack, cases, "approval", within=300)
    stack.postgres.crash()
    await asyncio.sleep(seconds)
    stack.postgres.start()
    return 1


async def _one_of_two_workers(stack: FaultStack, cases: list[FaultCase]) -> int:
    await _wait_all_past(stack, cases, "awaiting_effective_date", within=300)
    stack.kill(WORKER)
    return 1


async def run_fault(
    stack: FaultStack,
    tally: Tally,
    cases: list[FaultCase],
    fault: Callable[[list[FaultCase]], Awaitable[int]] | None,
    stagger: float = 0,
) -> None:
    driver = CaseDriver(stack, timeout=900)
    faults = [fault(cases)] if fault else []
    failures = await driver.run_all(cases, *faults, stagger=stagger)
    tally.injected += driver.kills + driver.injected
    tally.cases += len(cases)
    verdicts = await driver.verdicts([c for c in cases if c.final])
    for verdict in verdicts:
        tally.finished += verdict.right
        tally.duplicates += len(verdict.duplicates)
        tally.losses += len(verdict.losses)
        tally.resent += verdict.resent
        if not verdict.right:
            print(f"  {tally.fault}: {verdict}", flush=True)
    tally.losses += len(failures)
    for failure in failures:
        print(f"  {tally.fault}: {failure}", flush=True)
    missed = [c.stage for c in cases if c.stage and c.killed_at is None]
    for stage in missed:
        print(f"  {tally.fault}: no worker was killed in {stage}", flush=True)
    broken = chain_intact(stack.db)
    if broken:
        tally.losses += 1
        print(f"  {tally.fault}: the audit chain breaks at {broken}", flush=True)


@contextmanager
def fresh_stack(db: str, root: Path) -> Iterator[FaultStack]:
    postgres = PostgresServer() if db == "postgresql" else None
    try:
        yield from start_fault_stack(root, postgres)
    finally:
        if postgres is not None:
            postgres.remove()


async def run_round(args: argparse.Namespace, number: int, tallies: dict[str, Tally]) -> None:
    root = Path(tempfile.mkdtemp(prefix=f"closeout-faults-{number}-"))
    try:
        with fresh_stack(args.db, root) as stack:
            await _run_faults(args, number, stack, tallies)
    finally:
        if args.keep:
            print(f"round {number}: logs and stores kept in {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)


async def _run_faults(
    args: argparse.Namespace, number: int, stack: FaultStack, tallies: dict[str, Tally]
) -> None:
    moment = Moment.BEFORE if number % 2 else Moment.AFTER

    def fresh(n: int = CASES_PER_FAULT) -> list[FaultCase]:
        return [FaultCase() for _ in range(n)]

    if "stage" in tallies:
        print(f"round {number}: worker killed in each stage ({moment})", flush=True)
        stages = [FaultCase(stage, moment) for stage in STAGES]
        await run_fault(stack, tallies["stage"], stages, None)

    if "temporal" in tallies:
        print(f"round {number}: Temporal dev server killed and restarted", flush=True)
        await run_fault(stack, tallies["temporal"], fresh(), lambda c: _kill_temporal(stack, c))

    if "smtp" in tallies:
        print(f"round {number}: SMTP refusing connections {args.smtp_outage:.0f} s", flush=True)
        await run_fault(
            stack,
            tallies["smtp"],
            fresh(),
            lambda c: _smtp_outage(stack, args.smtp_outage),
            stagger=args.smtp_outage / (CASES_PER_FAULT + 1),
        )

    if "database" in tallies and stack.postgres is not None:
        print(f"round {number}: database down for {args.db_outage:.0f} s", flush=True)
        await run_fault(
            stack,
            tallies["database"],
            fresh(),
            lambda c: _database_outage(stack, c, args.db_outage),
        )

    if "workers" in tallies:
        print(f"round {number}: two workers, one killed", flush=True)
        stack.start_worker(SECOND_WORKER)
        await run_fault(stack, tallies["workers"], fresh(), lambda c: _one_of_two_workers(stack, c))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--smtp-outage", type=float, default=120, help="seconds")
    parser.add_argument("--db-outage", type=float, default=60, help="seconds")
    parser.add_argument(
        "--keep", action="store_true", help="keep each round's logs and stores (under /tmp)"
    )
    parser.add_argument(
        "--faults",
        default="stage,temporal,smtp,database,workers",
        help="which rows of the matrix to run (comma-separated)",
    )
    args = parser.parse_args()
    tallies = {
        "stage": Tally("worker SIGKILL in each stage"),
        "temporal": Tally("Temporal dev server SIGKILL + restart"),
        "smtp": Tally(f"SMTP refusing connections {args.smtp_outage:.0f} s"),
        "database": Tally(f"PostgreSQL down {args.db_outage:.0f} s"),
        "workers": Tally("two workers, one SIGKILLed"),
    }
    chosen = set(args.faults.split(","))
    if args.db == "sqlite":
        chosen.discard("database")
    tallies = {name: tally for name, tally in tallies.items() if name in chosen}
    started = time.monotonic()
    for number in range(1, args.rounds + 1):
        await run_round(args, number, tallies)
    minutes = (time.monotonic() - started) / 60
    print(f"\n{args.rounds} round(s), read model on {args.db}, {minutes:.0f} min\n")
    print(
        "| fault | faults injected | cases | finished right | duplicates | losses "
        "| resent, same Message-ID |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for tally in tallies.values():
        print(tally.row())
    total = Tally("total")
    for tally in tallies.values():
        for name in ("injected", "cases", "finished", "duplicates", "losses", "resent"):
            setattr(total, name, getattr(total, name) + getattr(tally, name))
    print(total.row())
    if total.duplicates or total.losses or total.finished < total.cases:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
