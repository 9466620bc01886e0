"""nbgrader end to end: the generated course folder, driven by the real ``nbgrader`` CLI.

``generate_assignment`` on the committed source of lesson 05, four submissions (correct,
wrong, stub, delegating to the package's answer) under ``submitted/``, ``autograde``, then
the scores read from nbgrader's gradebook. Also: the committed folder is what the generator
writes from the solution notebooks now.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from devmem_lab.teach.grade import nbgrader as nbg
from devmem_lab.teach.grade.sample import ANSWERS

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "notebooks" / "nbgrader"
ASSIGNMENT = "05_token_return"
STUB = 'raise NotImplementedError("your code here")'


def test_committed_course_folder_is_up_to_date():
    assert nbg.stale(REPO / "notebooks", COURSE) == [], (
        "run: python -m devmem_lab.teach.grade.nbgrader notebooks notebooks/nbgrader")


def test_source_cells_carry_nbgrader_metadata():
    import nbformat

    nb = nbformat.read(COURSE / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    meta = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    assert [(m["grade_id"], m["solution"], m["grade"]) for m in meta] == [
        ("answer_coalesce", True, False), ("test_coalesce", False, True),
        ("answer_dontneed_batches", True, False), ("test_dontneed_batches", False, True)]
    assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("JUPYTER_CONFIG_DIR", None)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _fill(nb, answers: dict[str, str]):
    for cell in nb.cells:
        for fn, body in answers.items():
            if cell.cell_type == "code" and f"def {fn}(" in cell.source:
                code = "import struct\n" + textwrap.dedent(body)
                cell.source = cell.source.replace(STUB, textwrap.indent(code, "    ").lstrip())
    return nb


SUBMISSIONS = {
    "ada": {"coalesce": ANSWERS["coalesce"], "dontneed_batches": ANSWERS["dontneed_batches"]},
    "bob": {"coalesce": ANSWERS["coalesce_sorted"], "dontneed_batches": ANSWERS["one_batch"]},
    "cy": {},
    "dee": {"coalesce": "from devmem_lab.teach.tokens import coalesce as c\nreturn c(tokens)",
            "dontneed_batches": ANSWERS["dontneed_batches"]},
}


@pytest.mark.skipif(shutil.which("alembic", path=str(Path(sys.executable).parent)) is None
                    and os.environ.get("CI") != "true",
                    reason="nbgrader is not installed: pip install -e '.[test]'")
def test_nbgrader_autograde_scores(tmp_path):
    import nbformat
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    shutil.copytree(COURSE, course)
    _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    release = course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    for student, answers in SUBMISSIONS.items():
        dest = course / "submitted" / student / ASSIGNMENT
        dest.mkdir(parents=True)
        nbformat.write(_fill(nbformat.read(release, as_version=4), answers),
                       dest / f"{ASSIGNMENT}.ipynb")
    _nbgrader(course, "autograde", ASSIGNMENT, "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {}
        for student in SUBMISSIONS:
            sub = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            scores[student] = {g.name: g.score for g in sub.grades}
    assert scores["ada"] == {"test_coalesce": 1.0, "test_dontneed_batches": 1.0}
    # partial credit: the share of cases right (3 of 12; 2 of 10)
    assert scores["bob"] == {"test_coalesce": 0.25, "test_dontneed_batches": 0.2}
    assert scores["cy"] == {"test_coalesce": 0.0, "test_dontneed_batches": 0.0}
    # delegation scores 0 (its own 5.2 is right)
    assert scores["dee"] == {"test_coalesce": 0.0, "test_dontneed_batches": 1.0}
    graded = nbformat.read(course / "autograded" / "dee" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
                           as_version=4)
    text = "".join(o.get("text", "") for c in graded.cells for o in c.get("outputs", []))
    assert "calls devmem_lab.teach.tokens.coalesce, the package's own answer" in text
