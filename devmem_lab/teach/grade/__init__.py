"""Grade a class: run every submitted notebook in a fresh kernel and grade its exercises.

Emulator only (course tooling); the public API of the project's contract, section 6.

``grade(paths, timeout=60)`` returns one row per (notebook, exercise): ``verdict``
(``correct``, ``incorrect``, ``not attempted``, ``error``, ``timeout``), ``score`` 0..1 (the
share of cases right) and a ``message`` the student can act on. How a grade is made:

1. The notebook is read here; malformed JSON or not a notebook gives rows, not an error.
2. Its code is read (:mod:`.static`) for changes to the package or the interpreter, which
   would let it fool what follows.
3. It runs top to bottom in a fresh kernel (nbclient) under ``RLIMIT_AS`` (:mod:`.kernel`)
   and a time limit for the whole notebook; cells that raise do not stop it.
4. A probe cell (:mod:`.probe`) calls the learner's own functions on the visible and the
   hidden cases (:mod:`.hidden`), each under a timer and a profile hook that notices calls
   into the package's reference (delegation scores 0).
5. Their results are compared with the reference here, in the grader's process; the
   notebook's output and its ``q`` objects play no part.

Notebooks are graded in parallel (one worker process per core), with a tqdm progress bar.

Limits, on purpose or by nature: the hidden cases ship with the package, so a learner who
reads them could hard-code answers (a reader of the feedback sees them too); a function whose
text was copied from the package (or from ``q.solution()``, which the course shows) counts
as the learner's own code unless it still calls the reference; code in one interpreter
cannot be fenced off completely, which is why step 2 refuses to grade notebooks that reach
into the package or the interpreter rather than trying to outwit them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .registry import EXERCISES
from .runner import COLUMNS, grade_notebook

__all__ = ["COLUMNS", "EXERCISES", "collect", "feedback", "grade", "grade_notebook",
           "nbgrader_test", "write_feedback"]


def collect(paths: str | os.PathLike | Iterable) -> list[Path]:
    """The notebooks to grade: files as given, folders searched for ``*.ipynb``."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        else:
            out.append(p)
    return out


def _safe(path: Path, timeout: float, memory: int, case_limit: float) -> list[dict]:
    try:
        return grade_notebook(path, timeout, memory, case_limit)
    except BaseException as exc:  # noqa: BLE001 - a worker never takes the batch down
        return [dict(zip(COLUMNS, (str(path), "-", "error", 0.0,
                                   f"the grader failed on this notebook: {exc!r}"[:400])))]


def grade(paths, timeout: float = 60, *, memory: int = 4 << 30, case_limit: float = 10.0,
          jobs: int | None = None, progress: bool = True):
    """Grade every notebook in ``paths`` (a path, a folder, or a list of them).

    ``timeout``: seconds for running each notebook's cells (grading its functions after
    that has its own limit, ``case_limit`` seconds per case); ``memory``: the kernel's
    address-space limit in bytes; ``jobs``: worker processes (default: one per core).
    Returns a ``pandas.DataFrame`` with columns ``notebook, exercise, verdict, score,
    message``, in the order of the notebooks.
    """
    import multiprocessing

    import pandas as pd
    from tqdm.auto import tqdm

    files = collect(paths)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(files) or 1))
    results: dict[int, list[dict]] = {}
    bar = tqdm(total=len(files), desc="grading", unit="notebook", disable=not progress)
    if jobs == 1:
        for i, f in enumerate(files):
            results[i] = _safe(f, timeout, memory, case_limit)
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futs = {pool.submit(_safe, f, timeout, memory, case_limit): i
                    for i, f in enumerate(files)}
            for fut in as_completed(futs):
                i = futs[fut]
                try:
                    results[i] = fut.result()
                except BaseException as exc:  # noqa: BLE001 - a worker died
                    results[i] = _safe_failure(files[i], exc)
                bar.update()
    bar.close()
    rows = [r for i in range(len(files)) for r in results[i]]
    return pd.DataFrame(rows, columns=COLUMNS)


def _safe_failure(path: Path, exc: BaseException) -> list[dict]:
    return [dict(zip(COLUMNS, (str(path), "-", "error", 0.0,
                               f"the grading worker died on this notebook: {exc!r}"[:400])))]


def _student(path: Path, root: Path) -> str:
    try:
        rel = path.resolve().relative_to(root)
    except ValueError:
        rel = Path(path.name)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def feedback(df) -> dict[str, str]:
    """``{student: Markdown}``: one feedback text per student.

    A student is the first folder under the notebooks' common folder (``class/alice/05.ipynb``
    is ``alice``), or the notebook's name when they all sit in one folder.
    """
    paths = [Path(p) for p in df["notebook"].unique()]
    root = Path(os.path.commonpath([p.resolve().parent for p in paths])) if paths else Path()
    texts: dict[str, list[str]] = {}
    for nb in df["notebook"].unique():
        who = _student(Path(nb), root)
        part = df[df["notebook"] == nb]
        lines = texts.setdefault(who, [f"# Feedback for {who}", ""])
        lines += [f"## {Path(nb).name}", "",
                  f"Score: {part['score'].sum():g} of {len(part)}", "",
                  "| exercise | verdict | score |", "|---|---|---|"]
        lines += [f"| {r.exercise} | {r.verdict} | {r.score:g} |" for r in part.itertuples()]
        lines.append("")
        lines += [f"- **{r.exercise}** ({r.verdict}): {r.message}" for r in part.itertuples()]
        lines.append("")
    return {who: "\n".join(lines) for who, lines in texts.items()}


def write_feedback(df, folder: str | os.PathLike) -> list[Path]:
    """Write ``folder/<student>.md`` for every student; returns the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for who, text in feedback(df).items():
        f = folder / f"{who}.md"
        f.write_text(text, encoding="utf-8")
        out.append(f)
    return out


def nbgrader_test(ex_id: str, namespace: dict) -> float:
    """The body of an nbgrader autograder cell; see :mod:`.nbgrader`."""
    from .nbgrader import nbgrader_test as _run

    return _run(ex_id, namespace)
