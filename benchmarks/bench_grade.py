"""Benchmark the grader: a class of 50 submissions of one notebook.

Writes 50 submissions of lesson 05 (``devmem_lab.teach.grade.sample``: a mix of correct,
wrong, stub and delegating answers, no hanging ones, so that the figure is the grader's own
cost) and grades them with ``grade()`` on every core; prints the wall time, the time per
notebook, and the machine's load average (others may be using the cores). Goal: under
2 minutes on 2 cores.

Usage::

    python benchmarks/bench_grade.py              # 50 submissions
    python benchmarks/bench_grade.py --n 8        # a smaller class, for a smoke test
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from devmem_lab.teach.grade import grade
from devmem_lab.teach.grade.sample import ANSWERS, submission

KINDS = [
    {"5.1": ANSWERS["coalesce"], "5.2": ANSWERS["dontneed_batches"]},
    {"5.1": ANSWERS["coalesce_sorted"], "5.2": ANSWERS["one_batch"]},
    {},
    {"5.1": "from devmem_lab.teach.tokens import coalesce as c\nreturn c(tokens)",
     "5.2": ANSWERS["dontneed_batches"]},
    {"5.1": ANSWERS["coalesce"], "5.2": ANSWERS["one_batch"]},
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=None)
    args = ap.parse_args()
    import nbformat

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n):
            nbformat.write(submission(KINDS[i % len(KINDS)]),
                           Path(tmp) / f"student{i:03d}.ipynb")
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        df = grade(tmp, jobs=args.jobs, progress=True)
        wall = time.perf_counter() - t0
        load1 = os.getloadavg()
    jobs = args.jobs or os.cpu_count()
    print(f"graded {args.n} notebooks ({len(df)} rows) in {wall:.1f} s on {jobs} workers "
          f"({os.cpu_count()} cores): {wall / args.n:.2f} s per notebook; goal < 120 s for 50")
    print("verdicts:", df["verdict"].value_counts().to_dict())
    print(f"load average before/after: {load0[0]:.2f} / {load1[0]:.2f} "
          "(above the core count means other work shared the machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
