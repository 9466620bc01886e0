"""``python -m devmem_lab.teach.grade PATH... -o grades.csv``: grade a class from a shell.

Writes the CSV (columns ``notebook, exercise, verdict, score, message``) and one Markdown
feedback file per student in ``feedback/`` next to it; prints a summary per verdict.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import grade, write_feedback


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devmem_lab.teach.grade",
                                 description="Grade submitted devmem-lab notebooks.")
    ap.add_argument("paths", nargs="+", help="notebooks, or folders of them")
    ap.add_argument("-o", "--output", default="grades.csv", help="CSV to write")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per notebook (60)")
    ap.add_argument("--memory", type=float, default=4.0, help="GiB of address space per kernel (4)")
    ap.add_argument("--case-limit", type=float, default=10.0, help="seconds per case (10)")
    ap.add_argument("-j", "--jobs", type=int, default=None, help="worker processes (cores)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    df = grade(args.paths, timeout=args.timeout, memory=int(args.memory * 2**30),
               case_limit=args.case_limit, jobs=args.jobs, progress=not args.no_progress)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    files = write_feedback(df, out.parent / "feedback")
    counts = df["verdict"].value_counts().to_dict()
    print(f"wrote {out} ({len(df)} rows) and {len(files)} feedback files in "
          f"{out.parent / 'feedback'}; " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
