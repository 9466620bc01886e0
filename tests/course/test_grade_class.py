"""The grader on a sample class: every kind of submission gets its rows and the right verdict.

Drives ``python -m devmem_lab.teach.grade`` (nbclient kernels, worker processes) on the
class :func:`devmem_lab.teach.grade.sample.sample_class` writes; checks the CSV against the
DataFrame of ``grade()`` and the feedback files.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from devmem_lab.teach.grade import COLUMNS, grade
from devmem_lab.teach.grade.sample import sample_class

pytest.importorskip("nbclient")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    expected = sample_class(folder / "submissions")
    out = folder / "out" / "grades.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "devmem_lab.teach.grade", str(folder / "submissions"), "-o",
         str(out), "--timeout", "25", "--case-limit", "2", "--no-progress"],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder, expected, out, proc.stdout


def test_every_submission_gets_the_expected_verdicts(graded):
    _folder, expected, out, _stdout = graded
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns) == COLUMNS
    got, why = {}, {}
    for r in df.itertuples():
        got.setdefault(r.notebook.rsplit("/", 1)[-1], {})[r.exercise] = r.verdict
        why[(r.notebook.rsplit("/", 1)[-1], r.exercise)] = r.message
    wrong = {(nb, ex): why.get((nb, ex)) for nb, exs in expected.items() for ex, v in exs.items()
             if got.get(nb, {}).get(ex) != v}
    assert got == expected, wrong


def test_scores_and_messages(graded):
    _folder, _expected, out, _ = graded
    df = pd.read_csv(out, keep_default_na=False).set_index(["notebook", "exercise"])
    by = {(nb.rsplit("/", 1)[-1], ex): row for (nb, ex), row in df.iterrows()}
    assert by[("correct.ipynb", "5.1")].score == 1.0
    # partial credit: the share of the 12 cases (7 visible + 5 hidden) that are right
    assert by[("wrong.ipynb", "5.1")].score == pytest.approx(3 / 12, abs=1e-4)
    assert "expected [(7, 3), (12, 1)]: 7, 8, 9 are consecutive" in by[("wrong.ipynb", "5.1")].message
    assert "calls devmem_lab.teach.tokens.coalesce" in by[("cheat_import.ipynb", "5.1")].message
    assert "calls devmem_lab.teach.tokens.dontneed_batches" in by[("cheat_import.ipynb", "5.2")].message
    assert by[("cheat_import.ipynb", "5.1")].score == 0
    assert "changes module devmem_lab.teach.tokens" in by[("cheat_patch.ipynb", "5.1")].message
    assert "raised MemoryError" in by[("memory.ipynb", "5.1")].message
    assert "raised IndexError" in by[("raising.ipynb", "5.1")].message
    assert "did not return within the time limit" in by[("hanging.ipynb", "5.1")].message
    assert "defines no function `dontneed_batches`" in by[("renamed.ipynb", "5.2")].message
    assert "kernel died" in by[("dead_kernel.ipynb", "5.1")].message
    assert "not valid JSON" in by[("malformed.ipynb", "-")].message
    # the fake q objects and printed "correct" lines change nothing
    assert by[("fake_q.ipynb", "5.1")].score == by[("wrong.ipynb", "5.1")].score
    assert df["score"].between(0, 1).all()


def test_feedback_file_per_student(graded):
    _folder, expected, out, stdout = graded
    files = sorted(p.name for p in (out.parent / "feedback").glob("*.md"))
    assert files == sorted(n.replace(".ipynb", ".md") for n in expected)
    text = (out.parent / "feedback" / "wrong.md").read_text()
    assert "# Feedback for wrong" in text and "| 5.1 | incorrect | 0.25 |" in text
    assert "13 feedback files" in stdout


def test_csv_matches_the_dataframe(graded):
    folder, _expected, out, _ = graded
    # the API on a few of the same files gives the rows the CLI wrote
    names = sorted(["correct.ipynb", "stub.ipynb", "cheat_import.ipynb", "malformed.ipynb"])
    df = grade([folder / "submissions" / n for n in names], timeout=25, case_limit=2,
               progress=False)
    csv = pd.read_csv(out, keep_default_na=False)
    csv = csv[csv["notebook"].isin(df["notebook"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(df, csv, check_dtype=False)
    df.to_csv(folder / "api.csv", index=False)
    back = pd.read_csv(folder / "api.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(df, back, check_dtype=False)
