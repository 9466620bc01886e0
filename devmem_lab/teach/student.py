"""Generate the student copies of the lesson notebooks from the solution notebooks.

Emulator only (course tooling). The solution notebooks in ``notebooks/`` are the one source;
this script writes ``notebooks/student/NN_topic.ipynb`` for every notebook that has exercise
markers:

- inside a code cell, the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` become one
  ``raise NotImplementedError("exercise N.k: ...")`` line at the same indentation;
- a cell tagged ``solution`` is dropped (worked answers, reveal plots);
- outputs and execution counts are cleared, widget state is dropped; cell ids, cell types
  and tags are kept.

Usage::

    python -m devmem_lab.teach.student notebooks/            # (re)write the copies
    python -m devmem_lab.teach.student notebooks/ --check    # exit 1 if a copy is stale

Needs only ``nbformat``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

__all__ = [
    "BEGIN",
    "END",
    "SOLUTION_TAG",
    "generate",
    "has_markers",
    "main",
    "stale",
    "strip_solutions",
    "student_notebook",
    "write",
]

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
SOLUTION_TAG = "solution"
STUDENT_DIR = "student"
_NUM = re.compile(r"^(\d+)_")
_CHECK = re.compile(r"\b(q\d+)\.check\(")


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def has_markers(nb) -> bool:
    """True if any cell carries a solution region or the ``solution`` tag."""
    return any(SOLUTION_TAG in _tags(c) or (c.cell_type == "code" and BEGIN in c.source)
               for c in nb.cells)


def strip_solutions(source: str, exercise: str, start: int = 1) -> tuple[str, int]:
    """Replace each marked region of ``source`` by a stub; returns (new source, regions cut).

    ``exercise`` is the lesson number; regions are numbered from ``start``.

    Raises
    ------
    ValueError
        A ``BEGIN`` without its ``END`` (or the reverse), or nested regions.
    """
    q = _CHECK.search(source)
    helper = f" ({q.group(1)}.hint() gives a hint)" if q else ""
    out: list[str] = []
    inside = False
    n = start
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"exercise {exercise}: nested {BEGIN}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f'{indent}raise NotImplementedError("exercise {exercise}.{n}: '
                       f'your code here{helper}")')
            n += 1
        elif stripped == END:
            if not inside:
                raise ValueError(f"exercise {exercise}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"exercise {exercise}: {BEGIN} without {END}")
    return "\n".join(out), n - start


def student_notebook(nb, lesson: str = "0"):
    """The student copy of one solution notebook (a new object; ``nb`` is not changed)."""
    new = nbformat.v4.new_notebook()
    new.metadata = {k: v for k, v in nb.metadata.items() if k in ("kernelspec", "language_info")}
    new.nbformat, new.nbformat_minor = nb.nbformat, nb.nbformat_minor
    n = 1
    for cell in nb.cells:
        if SOLUTION_TAG in _tags(cell):
            continue
        c = nbformat.from_dict(dict(cell))
        c.metadata = {k: v for k, v in cell.get("metadata", {}).items() if k == "tags"}
        if c.cell_type == "code":
            c.source, cut = strip_solutions(cell.source, lesson, n)
            n += cut
            c.outputs = []
            c.execution_count = None
        elif "attachments" in c and not c.attachments:
            del c["attachments"]
        new.cells.append(c)
    return new


def _lesson(path: Path) -> str:
    m = _NUM.match(path.name)
    return str(int(m.group(1))) if m else path.stem


def generate(src_dir: str | Path) -> dict[Path, object]:
    """``{student path: notebook}`` for every solution notebook of ``src_dir`` with markers."""
    src = Path(src_dir)
    out: dict[Path, object] = {}
    for path in sorted(src.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if has_markers(nb):
            out[src / STUDENT_DIR / path.name] = student_notebook(nb, _lesson(path))
    return out


def write(src_dir: str | Path) -> list[Path]:
    """Write the student copies; remove copies whose solution notebook has no markers left."""
    copies = generate(src_dir)
    dest = Path(src_dir) / STUDENT_DIR
    dest.mkdir(exist_ok=True)
    for path, nb in copies.items():
        text = nbformat.writes(nb) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    for old in dest.glob("*.ipynb"):
        if old not in copies:
            old.unlink()
    return sorted(copies)


def _shape(nb) -> list[tuple]:
    return [(c.cell_type, c.get("id"), c.source, tuple(_tags(c))) for c in nb.cells]


def stale(src_dir: str | Path) -> list[str]:
    """What differs between the committed copies and freshly generated ones (sources, cell
    types, ids and tags; outputs are ignored). Empty when everything is up to date."""
    copies = generate(src_dir)
    dest = Path(src_dir) / STUDENT_DIR
    problems = []
    for path, nb in copies.items():
        if not path.exists():
            problems.append(f"{path}: missing")
            continue
        have = _shape(nbformat.read(path, as_version=4))
        want = _shape(nb)
        if have != want:
            first = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b),
                         min(len(have), len(want)))
            problems.append(f"{path}: differs from its solution notebook at cell {first}")
    if dest.is_dir():
        for old in sorted(dest.glob("*.ipynb")):
            if old not in copies:
                problems.append(f"{old}: no solution notebook with exercise markers")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devmem_lab.teach.student",
        description="Write notebooks/student/ copies from the solution notebooks.")
    parser.add_argument("notebooks", nargs="?", default="notebooks",
                        help="folder of the solution notebooks (default: notebooks)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a committed copy is out of date")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.notebooks)
        for p in problems:
            print(p)
        if problems:
            print("run: python -m devmem_lab.teach.student", args.notebooks)
            return 1
        print("student copies are up to date")
        return 0
    for path in write(args.notebooks):
        print("wrote", path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
