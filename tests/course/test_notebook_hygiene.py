"""Every lesson notebook follows the style guide's hygiene rules (style.md, section 5).

Solution notebooks (``notebooks/NN_*.ipynb``, all of them, whoever wrote them): an H1 title
first, a ``## Recap``, executed top to bottom (execution counts 1..n), no error or stderr
output, under 1 MB. Student copies, as the generator makes them (a learner's saved copy with
its outputs is theirs, not the course's): the same title and recap, and no outputs at all.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from devmem_lab.teach import student

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SOLUTIONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
GENERATED = student.generate(NOTEBOOKS)
STUDENT = sorted(GENERATED)
MAX_BYTES = 1 << 20


def _ids(paths):
    return [p.relative_to(NOTEBOOKS).as_posix() for p in paths]


def test_there_are_notebooks():
    assert SOLUTIONS


@pytest.mark.parametrize("path", SOLUTIONS + STUDENT, ids=_ids(SOLUTIONS + STUDENT))
def test_title_first_and_recap(path):
    nb = GENERATED.get(path) or nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), \
        "the first cell must be the H1 title"
    assert any(c.cell_type == "markdown" and "## Recap" in c.source for c in nb.cells), \
        "no '## Recap' section"


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_executed_top_to_bottom(path):
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), \
        "execution counts must read 1..n: Restart and Run All, then save"


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_no_errors_or_stderr(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"cell {i}: {out.get('ename')}"
            assert not (out.output_type == "stream" and out.name == "stderr"), \
                f"cell {i} wrote to stderr: {out.text[:200]!r}"


@pytest.mark.parametrize("path", SOLUTIONS + STUDENT, ids=_ids(SOLUTIONS + STUDENT))
def test_small_enough(path):
    size = len(nbformat.writes(GENERATED[path])) if path in GENERATED else path.stat().st_size
    assert size < MAX_BYTES


@pytest.mark.parametrize("path", STUDENT, ids=_ids(STUDENT))
def test_student_copies_have_no_outputs(path):
    nb = GENERATED[path]
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
