"""Generate the student copies of the lesson notebooks from the solution notebooks.

Emulator only (course tooling). The solution notebooks in ``notebooks/`` are the one source;
this script writes ``notebooks/student/NN_topic.ipynb`` for every notebook that has exercise
markers:

- inside a code cell, the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` become one
  ``raise NotImplementedError("exercise N.k: ...")`` line at the same indentation;
- a cell tagged ``solution`` is dropped (worked answers, reveal plots);
- outputs and execution counts are cleared, widget state is dropped; cell ids, cell types
  and tags are kept.

The copies are where learners work, so the generator never loses their work:

- ``notebooks/student/.generated.json`` records a hash of every copy as last generated. A
  copy is rewritten only while it is still exactly that (or missing); a copy a learner has
  changed (answers, outputs, anything) is kept and reported, with the command that resets it.
- Only files the manifest lists are ever removed (when their lesson loses its exercises, and
  only if unchanged). A learner's own notebooks (``my_notes.ipynb``, JupyterLab's
  ``05_token_return-Copy1.ipynb``) are never touched.
- ``--reset NAME`` regenerates one copy deliberately: the learner's version is first saved as
  ``NAME.saved-N.ipynb`` beside it, so even a reset loses nothing.
- ``--check`` compares what would be generated with what was last generated (the manifest),
  not with the files, so a learner's edits never make it fail. With ``CI=true`` it also
  checks that the committed files are the generated ones.

Usage::

    python -m devmem_lab.teach.student notebooks/                     # (re)write the copies
    python -m devmem_lab.teach.student notebooks/ --reset 05_token_return
    python -m devmem_lab.teach.student notebooks/ --check             # exit 1 if stale
    python -m devmem_lab.teach.student notebooks/ --pristine build/student  # fresh copies

Needs only ``nbformat``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = [
    "BEGIN",
    "END",
    "MANIFEST",
    "SOLUTION_TAG",
    "Report",
    "edited",
    "generate",
    "has_markers",
    "main",
    "stale",
    "strip_solutions",
    "student_notebook",
    "write",
    "write_pristine",
]

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
SOLUTION_TAG = "solution"
STUDENT_DIR = "student"
MANIFEST = ".generated.json"
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


def _text(nb) -> str:
    return nbformat.writes(nb) + "\n"


def _digest(text: str) -> str:
    """Hash of a notebook's content (its JSON, key order and layout aside)."""
    try:
        canonical = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = text
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _file_digest(path: Path) -> str | None:
    try:
        return _digest(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def _manifest_path(src_dir: str | Path) -> Path:
    return Path(src_dir) / STUDENT_DIR / MANIFEST


def _read_manifest(src_dir: str | Path) -> dict[str, str]:
    try:
        data = json.loads(_manifest_path(src_dir).read_text())
    except (OSError, ValueError):
        return {}
    return dict(data.get("copies", {}))


def _write_manifest(src_dir: str | Path, copies: dict[str, str]) -> None:
    text = json.dumps({
        "about": "What devmem_lab.teach.student last generated here (a hash per copy): a copy "
                 "that no longer matches is a learner's work and is never overwritten.",
        "copies": dict(sorted(copies.items())),
    }, indent=1) + "\n"
    path = _manifest_path(src_dir)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


@dataclass
class Report:
    """What :func:`write` did, file by file."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # a learner changed it: left alone
    saved: dict[Path, Path] = field(default_factory=dict)  # --reset: learner copy -> saved as
    removed: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"wrote {p}" for p in self.written]
        out += [f"saved your {p.name} as {dest} before resetting it"
                for p, dest in self.saved.items()]
        out += [f"removed {p} (its lesson has no exercises now)" for p in self.removed]
        for p in self.kept:
            out.append(f"kept {p}: changed since it was generated (your work?); to start it "
                       f"afresh: make student FORCE={p.stem}  (your version is saved first)")
        return out


def _saved_name(path: Path) -> Path:
    n = 1
    while (dest := path.with_name(f"{path.stem}.saved-{n}{path.suffix}")).exists():
        n += 1
    return dest


def write(src_dir: str | Path, reset: tuple[str, ...] | list[str] = ()) -> Report:
    """Write the student copies without ever losing a learner's work (see the module doc).

    ``reset``: copy names (``05_token_return`` or ``05_token_return.ipynb``) to regenerate
    even though they were changed; each changed one is first saved as ``NAME.saved-N.ipynb``.
    """
    copies = generate(src_dir)
    dest = Path(src_dir) / STUDENT_DIR
    dest.mkdir(exist_ok=True)
    known = _read_manifest(src_dir)
    resets = {r if r.endswith(".ipynb") else f"{r}.ipynb" for r in reset}
    unknown = resets - {p.name for p in copies}
    if unknown:
        raise ValueError(f"no student copy named {', '.join(sorted(unknown))}; "
                         f"copies: {', '.join(p.stem for p in copies)}")
    report = Report()
    manifest: dict[str, str] = {}
    for path, nb in copies.items():
        text = _text(nb)
        new = _digest(text)
        exists = path.exists()
        have = _file_digest(path) if exists else None
        if have == new:
            report.unchanged.append(path)
        elif not exists or (have is not None and have == known.get(path.name)):
            path.write_text(text)
            report.written.append(path)
        elif path.name in resets:
            saved = _saved_name(path)
            os.replace(path, saved)
            path.write_text(text)
            report.saved[path] = saved
            report.written.append(path)
        else:
            report.kept.append(path)
        manifest[path.name] = new
    for name, digest in known.items():
        old = dest / name
        if name in manifest or not old.exists():
            continue
        if _file_digest(old) == digest:
            old.unlink()
            report.removed.append(old)
        else:  # changed by a learner: theirs now, never removed
            report.kept.append(old)
    _write_manifest(src_dir, manifest)
    return report


def write_pristine(src_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write freshly generated copies into ``out_dir`` (a build folder, e.g. for running them
    under nbval whatever a learner did to ``notebooks/student/``)."""
    out = Path(out_dir)
    if out.resolve() == (Path(src_dir) / STUDENT_DIR).resolve():
        raise ValueError(f"{out} is where learners work; pick a build folder")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for path, nb in generate(src_dir).items():
        target = out / path.name
        target.write_text(_text(nb))
        paths.append(target)
    return paths


def edited(src_dir: str | Path) -> list[Path]:
    """Copies that differ from what was last generated: a learner's work."""
    known = _read_manifest(src_dir)
    dest = Path(src_dir) / STUDENT_DIR
    return [dest / n for n, d in sorted(known.items())
            if (dest / n).exists() and _file_digest(dest / n) != d]


def stale(src_dir: str | Path, *, files: bool | None = None) -> list[str]:
    """What is out of date: a copy whose generated content changed since the manifest was
    written (its solution notebook was edited), a missing entry, an entry whose lesson lost
    its exercises. Empty when everything is up to date.

    ``files`` (default: when ``CI=true``) also requires every copy on disk to be exactly what
    was generated: true of a committed tree, not of a learner's working copy.
    """
    if files is None:
        files = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    copies = generate(src_dir)
    known = _read_manifest(src_dir)
    problems = []
    for path, nb in copies.items():
        new = _digest(_text(nb))
        if path.name not in known:
            problems.append(f"{path}: never generated")
        elif known[path.name] != new:
            problems.append(f"{path}: its solution notebook changed since it was generated")
        elif files and _file_digest(path) != new:
            problems.append(f"{path}: the file is not what was generated (edited by hand?)")
    for name in sorted(set(known) - {p.name for p in copies}):
        problems.append(f"{Path(src_dir) / STUDENT_DIR / name}: no solution notebook with "
                        "exercise markers")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devmem_lab.teach.student",
        description="Write notebooks/student/ copies from the solution notebooks, keeping "
                    "every copy a learner has changed.")
    parser.add_argument("notebooks", nargs="?", default="notebooks",
                        help="folder of the solution notebooks (default: notebooks)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a copy is out of date")
    parser.add_argument("--reset", action="append", default=[], metavar="NAME",
                        help="regenerate this copy even if changed (your version is saved as "
                             "NAME.saved-N.ipynb first); repeatable")
    parser.add_argument("--pristine", metavar="DIR",
                        help="only write fresh copies into DIR (a build folder)")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.notebooks)
        for p in problems:
            print(p)
        for p in edited(args.notebooks):
            print(f"note: {p} has your changes (not a problem)")
        if problems:
            print("run: python -m devmem_lab.teach.student", args.notebooks)
            return 1
        print("student copies are up to date")
        return 0
    if args.pristine:
        for path in write_pristine(args.notebooks, args.pristine):
            print("wrote", path)
        return 0
    try:
        report = write(args.notebooks, args.reset)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    if not report.lines():
        print("student copies are up to date")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
