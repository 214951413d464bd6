"""The throughput bench's rounds: one kind after the other, or both together, the CPU time
each part of the system spent on a workflow of each kind, and the Temporal server's own
counts of the requests a workflow of each kind cost it."""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (its threads included)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # the command may hold spaces; fields from state on
    return (int(fields[11]) + int(fields[12])) / TICK


def child_running(parent: int, word: str) -> int:
    """The pid of the parent's child process whose command line holds `word`."""
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            if word in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace"):
                return int(child)
    raise RuntimeError(f"process {parent} has no child running {word!r}")


# The server's counters worth comparing between the kinds: (family, operation) -> what it is.
SERVER_COUNTS = {
    ("persistence_requests", "UpdateWorkflowExecution"): "state writes",
    # Each add of an activity task to a queue (one forwarded between the queue's partitions
    # counts again), and each activity a poller then took from it.
    ("service_requests", "AddActivityTask"): "activity queue adds",
    ("service_requests", "RecordActivityTaskStarted"): "activities from a queue",
}


def server_counts(metrics_url: str) -> Counter[str]:
    """The server's SERVER_COUNTS so far, read from its Prometheus endpoint. An activity handed
    to the worker with the workflow task that scheduled it (eager dispatch) is never queued."""
    with urllib.request.urlopen(metrics_url, timeout=10) as answer:
        text = answer.read().decode()
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = SERVER_COUNTS.get((family.name, sample.labels.get("operation", "")))
            if name is not None and sample.name in (family.name, family.name + "_total"):
                counts[name] += int(sample.value)
    return counts


@dataclass
class CpuMeter:
    """CPU seconds of named processes (the server, the workers, the bench itself), summed by
    the kind of workflow running while they were spent."""

    pids: dict[str, int]
    spent: dict[str, dict[str, float]] = field(default_factory=dict)
    server_metrics: str | None = None  # the Temporal server's /metrics, when it serves one
    counted: dict[str, Counter[str]] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    async def during(self, kind: str, run: Awaitable[float]) -> float:
        url = self.server_metrics
        before = self.read()
        counts_before = server_counts(url) if url else Counter()
        took = await run
        after = self.read()
        total = self.spent.setdefault(kind, dict.fromkeys(self.pids, 0.0))
        for name in self.pids:
            total[name] += after[name] - before[name]
        if url:
            counted = self.counted.setdefault(kind, Counter())
            counted.update(server_counts(url) - counts_before)
        return took

    def per_workflow(self, kind: str, count: int) -> str:
        """Milliseconds of CPU a workflow of this kind cost each process, and in all."""
        spent = self.spent.get(kind, {})
        parts = [f"{name} {1000 * s / count:.0f}" for name, s in spent.items()]
        return ", ".join([*parts, f"all {1000 * sum(spent.values()) / count:.0f} ms"])

    def server_requests(self, kind: str, count: int) -> str:
        """What a workflow of this kind cost the server, by its own counters."""
        counted = self.counted.get(kind, Counter())
        return ", ".join(f"{name} {counted[name] / count:.1f}" for name in SERVER_COUNTS.values())


async def measure(indexes: range, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Seconds to run one workflow per index, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with gate:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in indexes))
    return time.perf_counter() - started


async def alternate(
    count: int,
    rounds: int,
    concurrency: int,
    bare: Callable[[int], Awaitable[None]],
    case: Callable[[int], Awaitable[None]],
    meter: CpuMeter,
) -> tuple[float, float]:
    """Both rates, measured in alternating rounds (bare first, then case first, …).

    The server's store grows with every finished workflow and slows down as it does: run one
    kind after the other and the second always meets a fuller store than the first. The meter
    sums each process's CPU time by the kind that was running.
    """
    seconds = {"bare": 0.0, "case": 0.0}
    bounds = [count * r // rounds for r in range(rounds + 1)]
    for r in range(rounds):
        batch = range(bounds[r], bounds[r + 1])
        order = [("bare", bare), ("case", case)]
        rates = {}
        for name, one in order if r % 2 == 0 else reversed(order):
            took = await meter.during(name, measure(batch, concurrency, one))
            seconds[name] += took
            rates[name] = len(batch) / took
        print(
            f"round {r + 1}: bare {rates['bare']:.2f}/s, case {rates['case']:.2f}/s, "
            f"ratio {rates['case'] / rates['bare']:.2f}",
            flush=True,
        )
    return count / seconds["bare"], count / seconds["case"]


async def _timed_together(
    batch: list[tuple[str, int]],
    concurrency: int,
    kinds: dict[str, Callable[[int], Awaitable[None]]],
) -> dict[str, list[float]]:
    """Run the batch in its order, `concurrency` at a time: how long each took, by kind."""
    gate = asyncio.Semaphore(concurrency)
    took: dict[str, list[float]] = {kind: [] for kind in kinds}

    async def timed(kind: str, i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await kinds[kind](i)
            took[kind].append(time.perf_counter() - started)

    await asyncio.gather(*(timed(kind, i) for kind, i in batch))
    return took


async def mixed(
    count: int,
    rounds: int,
    concurrency: int,
    bare: Callable[[int], Awaitable[None]],
    case: Callable[[int], Awaitable[None]],
    seed: int,
) -> tuple[float, list[float]]:
    """The ratio of the two kinds' costs with both in flight together: each round starts its
    bare workflows and its cases in one random order, `concurrency` at a time, so both meet
    the server in the same state. A kind's cost is the mean time one of its workflows holds a
    slot: at equal concurrency, rate = concurrency / mean time, so case/bare rate is the bare
    mean over the case mean. Returns the ratio over all rounds and each round's."""
    rng = random.Random(seed)
    spent: dict[str, list[float]] = {"bare": [], "case": []}
    per_round = []
    bounds = [count * r // rounds for r in range(rounds + 1)]
    for r in range(rounds):
        batch = [(kind, i) for i in range(bounds[r], bounds[r + 1]) for kind in ("bare", "case")]
        rng.shuffle(batch)
        took = await _timed_together(batch, concurrency, {"bare": bare, "case": case})
        ratio = statistics.fmean(took["bare"]) / statistics.fmean(took["case"])
        per_round.append(ratio)
        for kind in spent:
            spent[kind] += took[kind]
        print(
            f"round {r + 1}: bare {statistics.fmean(took['bare']):.2f} s, "
            f"case {statistics.fmean(took['case']):.2f} s a workflow, ratio {ratio:.2f}",
            flush=True,
        )
    return statistics.fmean(spent["bare"]) / statistics.fmean(spent["case"]), per_round
