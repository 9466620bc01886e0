"""Before/after: bench_load's emulated/loopback ratio for two revisions, alternated in one run.

A refactor must not make the emulator slower (issue 15). This VM's speed drifts by tens of
per cent from second to second, so two revisions are compared the way bench_load compares the
emulator with real TCP: in one run, alternating, each round measuring both revisions once, and
each measurement normalised by a loopback run of its own. The figure that decides is the median
of the rounds' after/before ratios.

    python benchmarks/compare_revisions.py BEFORE AFTER [--rounds 7] [--bytes 256M] [--json out.json]

BEFORE and AFTER are git revisions (checked out into temporary worktrees) or directories
holding a devmem_lab checkout. Each run is ``benchmarks/bench_load.py --repeat 1 --no-extra
--trace-bytes 0`` of that tree, in the same Python (this one), so only the code differs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tree(rev: str, tmp: Path) -> Path:
    """A directory holding ``rev``: itself if it is one, else a detached worktree of it."""
    if Path(rev).is_dir():
        return Path(rev).resolve()
    dest = tmp / rev.replace("/", "_")
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(dest), rev],
                   check=True)
    return dest


def _run(tree: Path, nbytes: str, out: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree), MPLBACKEND="Agg")
    subprocess.run([sys.executable, str(tree / "benchmarks" / "bench_load.py"), "--repeat", "1",
                    "--no-extra", "--trace-bytes", "0", "--bytes", nbytes, "--json", str(out)],
                   check=True, env=env, cwd=tree, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["ratio"]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--bytes", default="256M", help="virtual transfer per run (default 256M)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        trees = {"before": _tree(args.before, tmp), "after": _tree(args.after, tmp)}
        try:
            rounds = []
            for i in range(args.rounds):
                # alternate which revision goes first, so a drift in speed favours neither
                order = ("before", "after") if i % 2 == 0 else ("after", "before")
                r = {k: _run(trees[k], args.bytes, tmp / f"{k}.json") for k in order}
                rounds.append(r)
                print(f"round {i + 1}: before {r['before']:.3f}x  after {r['after']:.3f}x  "
                      f"after/before {r['after'] / r['before']:.3f}", flush=True)
        finally:
            for tree in trees.values():
                if tree.is_relative_to(tmp):
                    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                                    str(tree)], check=False)
    result = {
        "before": args.before, "after": args.after, "bytes": args.bytes, "rounds": rounds,
        "median_before": statistics.median(r["before"] for r in rounds),
        "median_after": statistics.median(r["after"] for r in rounds),
        "median_after_over_before": statistics.median(r["after"] / r["before"] for r in rounds),
    }
    print(f"median emulated/loopback: before {result['median_before']:.3f}x, after "
          f"{result['median_after']:.3f}x; median of the rounds' after/before: "
          f"{result['median_after_over_before']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
