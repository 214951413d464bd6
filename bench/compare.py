"""The throughput ratio of this tree against another commit's, measured back to back.

    python bench/compare.py --base <commit> [--runs 2] [--cases 800 --rounds 4 --warmup 100]

A ratio of the alternate method (`bench/throughput.py --mode alternate`) depends on where it
runs as much as on the code: the same commit measured 0.89 to 0.93 on one day and 0.65 on
another. What a change can be held to is the ratio before and after it in one place at one
time, so this runs the base commit's own bench (checked out in a worktree of its own, its code
imported ahead of this tree's) and this tree's, in pairs whose order alternates (base first,
then this tree first, …) so that a drift of the machine weighs on both sides alike. It prints
each run's rates and its rounds' ratios, then each side's mean and the range of its rounds,
and says whether the two can be told apart: only when the ranges of their rounds' ratios do
not overlap. Nothing else should run on the machine meanwhile.

`--cases`, `--rounds` and `--warmup` go to both benches as they are. The last line is
`difference=<this tree's mean ratio - the base's>`.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_RATE = re.compile(r"^(bare workflow|close-customer case): ([\d.]+)/s$", re.MULTILINE)
_ROUND = re.compile(r"^round \d+: .*ratio ([\d.]+)$", re.MULTILINE)
_RATIO = re.compile(r"^ratio=([\d.]+)$", re.MULTILINE)


@dataclass(frozen=True)
class Measured:
    bare: float
    case: float
    ratio: float
    rounds: tuple[float, ...]


def _bench(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One bench in a process group of its own: interrupted, the whole group goes (its dev
    server, workers and mail sink), not the bench alone."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = process.communicate()
    except BaseException:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        raise
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def measure(tree: Path, bench_args: list[str]) -> Measured:
    """One run of the tree's own throughput bench, alternate method, its code first on the path."""
    script = tree / "bench" / "throughput.py"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    usage = _bench([sys.executable, str(script), "--help"], env).stdout
    # Benches before the mixed method knew only the alternate one, and had no --mode.
    mode = ["--mode", "alternate"] if "--mode" in usage else []
    done = _bench([sys.executable, str(script), *mode, *bench_args], env)
    rates = dict(_RATE.findall(done.stdout))
    ratio = _RATIO.search(done.stdout)
    if done.returncode != 0 or ratio is None or len(rates) != 2:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit(f"the bench of {tree} failed (exit {done.returncode})")
    return Measured(
        float(rates["bare workflow"]),
        float(rates["close-customer case"]),
        float(ratio.group(1)),
        tuple(float(r) for r in _ROUND.findall(done.stdout)),
    )


def _spread(runs: list[Measured]) -> tuple[float, float]:
    rounds = [r for m in runs for r in m.rounds] or [m.ratio for m in runs]
    return min(rounds), max(rounds)


def compare(base: str, tree: Path, runs: int, bench_args: list[str]) -> float:
    """Print every run and the verdict; the difference of the mean ratios."""
    sides: dict[str, list[Measured]] = {base: [], "this tree": []}
    for run in range(1, runs + 1):
        order = [(base, tree), ("this tree", ROOT)]
        if run % 2 == 0:
            order.reverse()
        for name, where in order:
            m = measure(where, bench_args)
            sides[name].append(m)
            rounds = ", ".join(f"{r:.2f}" for r in m.rounds)
            print(
                f"run {run}, {name}: bare {m.bare:.2f}/s, case {m.case:.2f}/s, "
                f"ratio {m.ratio:.2f} (rounds {rounds})",
                flush=True,
            )
    means = {name: statistics.mean(m.ratio for m in ms) for name, ms in sides.items()}
    spreads = {name: _spread(ms) for name, ms in sides.items()}
    for name in sides:
        low, high = spreads[name]
        print(f"{name}: mean ratio {means[name]:.2f}, rounds {low:.2f} to {high:.2f}")
    (low_a, high_a), (low_b, high_b) = spreads.values()
    apart = high_a < low_b or high_b < low_a
    print(
        "the two differ by more than their rounds' spread"
        if apart
        else "not told apart: the difference lies within the rounds' spread"
    )
    return means["this tree"] - means[base]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="--cases, --rounds and --warmup are passed on to both benches.",
        allow_abbrev=False,
    )
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument(
        "--runs", type=int, default=2, help="runs of each side, the order alternating"
    )
    args, bench_args = parser.parse_known_args()
    if args.runs < 1:
        parser.error("--runs is at least 1")
    passed_on = {"--cases", "--rounds", "--warmup"}
    unknown = [a for a in bench_args if a.startswith("-") and a.split("=")[0] not in passed_on]
    if unknown:
        parser.error(f"not an option of either: {' '.join(unknown)}")
    resolved = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--short", f"{args.base}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if resolved.returncode != 0:
        parser.error(f"no commit {args.base!r} in {ROOT}")
    base = resolved.stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree), base],
            check=True,
        )
        try:
            difference = compare(base, tree, args.runs, bench_args)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )
    print(f"difference={difference:+.2f}")


if __name__ == "__main__":
    main()
