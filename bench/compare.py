"""The throughput ratio of this tree against another commit's, measured back to back.

    python bench/compare.py --base <commit> [--runs 1] [--cases 800 --rounds 4 --warmup 100]

A ratio of the alternate method (`bench/throughput.py --mode alternate`) depends on the machine
as much as on the code: the same commit measured 0.89 to 0.93 on one day and 0.65 on another.
What a change can be held to is the ratio before and after it on one machine at one time, so
this runs the base commit's own bench (checked out in a worktree of its own, its code imported
ahead of this tree's) and this tree's, one after the other, `--runs` times, and prints each
run's rates and ratios. Nothing else should run on the machine meanwhile.

The last line is `difference=<this tree's mean ratio - the base's>`.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_RATE = re.compile(r"^(bare workflow|close-customer case): ([\d.]+)/s$", re.MULTILINE)
_RATIO = re.compile(r"^ratio=([\d.]+)$", re.MULTILINE)


@dataclass(frozen=True)
class Measured:
    bare: float
    case: float
    ratio: float


def measure(tree: Path, bench_args: list[str]) -> Measured:
    """One run of the tree's own throughput bench, alternate method, its code first on the path."""
    script = tree / "bench" / "throughput.py"
    usage = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=True
    ).stdout
    # Benches before the mixed method knew only the alternate one, and had no --mode.
    mode = ["--mode", "alternate"] if "--mode" in usage else []
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(script), *mode, *bench_args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    rates = dict(_RATE.findall(done.stdout))
    ratio = _RATIO.search(done.stdout)
    if done.returncode != 0 or ratio is None or len(rates) != 2:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit(f"the bench of {tree} failed (exit {done.returncode})")
    return Measured(
        float(rates["bare workflow"]), float(rates["close-customer case"]), float(ratio.group(1))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--runs", type=int, default=1, help="pairs of runs, base first")
    args, bench_args = parser.parse_known_args()
    if args.runs < 1:
        parser.error("--runs is at least 1")
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
            pairs = []
            for run in range(1, args.runs + 1):
                before, after = measure(tree, bench_args), measure(ROOT, bench_args)
                pairs.append((before, after))
                for name, m in ((base, before), ("this tree", after)):
                    print(
                        f"run {run}, {name}: bare {m.bare:.2f}/s, case {m.case:.2f}/s, "
                        f"ratio {m.ratio:.2f}",
                        flush=True,
                    )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )
    before_mean = statistics.mean(b.ratio for b, _ in pairs)
    after_mean = statistics.mean(a.ratio for _, a in pairs)
    print(f"ratio: {base} {before_mean:.2f}, this tree {after_mean:.2f}")
    print(f"difference={after_mean - before_mean:+.2f}")


if __name__ == "__main__":
    main()
