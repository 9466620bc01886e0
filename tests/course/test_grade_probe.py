"""The grader's parts that need no kernel: delegation and tampering seen by the probe, the
static reading of a submission, plain-data comparison, the registry, feedback text."""

from __future__ import annotations

import functools
import importlib
import re
import threading
from pathlib import Path

import pandas as pd
import pytest

from devmem_lab.teach import student, tokens
from devmem_lab.teach.grade import feedback
from devmem_lab.teach.grade.probe import cases_of, run_exercise
from devmem_lab.teach.grade.registry import EXERCISES, exercises_of
from devmem_lab.teach.grade.runner import _judge, _lesson
from devmem_lab.teach.grade.static import scan

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def own(toks):
    ranges = []
    for t in toks:
        if ranges and sum(ranges[-1]) == t:
            ranges[-1] = (ranges[-1][0], ranges[-1][1] + 1)
        else:
            ranges.append((t, 1))
    return ranges


def via_import(toks):
    from devmem_lab.teach.tokens import coalesce
    return coalesce(toks)


def via_importlib(toks):
    mod = importlib.import_module("devmem_lab." + "uapi")
    return [(r.token_start, r.token_count) for r in getattr(mod, "coalesce_" + "tokens")(toks)]


def via_thread(toks):
    out = []
    t = threading.Thread(target=lambda: out.append(tokens.coalesce(toks)))
    t.start()
    t.join()
    return out[0]


def via_exec(toks):  # the reference's source run as the learner's own code: still calls uapi
    import inspect
    ns = {}
    exec(inspect.getsource(tokens.coalesce), vars(tokens) | ns, ns)  # noqa: S102
    return ns["coalesce"](toks)


def switches_hook_off(toks):
    import sys
    sys.setprofile(None)
    return own(toks)


def endless(toks):
    while True:
        try:
            pass
        except BaseException:  # noqa: BLE001, S110 - swallows the first timer too
            pass


class AlwaysEqual:
    def __eq__(self, other):
        return True


CHEATS = {
    "via_import": via_import, "via_importlib": via_importlib, "via_thread": via_thread,
    "via_exec": via_exec, "lambda": lambda t: tokens.coalesce(t),
    "partial": functools.partial(tokens.coalesce), "reference": tokens.q1.reference,
}


def _row(fn, ex_id="5.1", limit=1.0):
    ns = {"coalesce": fn, "dontneed_batches": fn}
    payload = run_exercise(ns, ex_id, [EXERCISES[ex_id].function], limit)
    return _judge("nb.ipynb", EXERCISES[ex_id], payload)


def test_own_code_is_correct_on_visible_and_hidden_cases():
    row = _row(own)
    assert (row["verdict"], row["score"]) == ("correct", 1.0)
    assert "correct on all 12 cases (7 shown by q1.check, 5 hidden)" in row["message"]


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_delegation_scores_zero_however_it_is_reached(name):
    row = _row(CHEATS[name])
    assert (row["verdict"], row["score"]) == ("incorrect", 0.0), row
    assert "the package's own answer" in row["message"]


def test_switching_the_hook_off_is_tampering():
    row = _row(switches_hook_off)
    assert row["verdict"] == "error" and "sys.setprofile" in row["message"]


def test_an_endless_loop_that_swallows_the_timer_still_times_out():
    row = _row(endless, limit=0.3)
    assert row["verdict"] == "timeout" and "did not return within the time limit" in row["message"]


def test_an_object_that_equals_everything_is_not_an_answer():
    assert tokens.q1.verdict(lambda t: AlwaysEqual())[0] == "not yet"
    row = _row(lambda t: AlwaysEqual())
    assert row["score"] == 0.0 and "AlwaysEqual" in row["message"]


def test_missing_function_is_an_error_row():
    payload = run_exercise({}, "5.1", ["coalesce"])
    row = _judge("nb.ipynb", EXERCISES["5.1"], payload)
    assert row["verdict"] == "error" and "defines no function `coalesce`" in row["message"]


def test_hidden_cases_are_not_what_check_runs():
    for ex_id, s in EXERCISES.items():
        n = len(s.exercise.cases)
        assert len(cases_of(ex_id)) > n, ex_id


def test_registry_ids_match_the_stub_ids():
    assert list(EXERCISES) == ["1.1", "1.2", "2.1", "3.1", "3.2", "3.3", "4.1", "4.2", "4.3",
                               "5.1", "5.2", "8.1", "8.2", "10.1", "10.2"]
    stubs = set()
    for nb in student.generate(NOTEBOOKS).values():
        for cell in nb.cells:
            stubs |= set(re.findall(r'exercise (\d+\.\d+):', cell.source))
    assert stubs == set(EXERCISES)
    assert [s.function for s in exercises_of("5")] == ["coalesce", "dontneed_batches"]


def test_lesson_from_name_or_imports(tmp_path):
    from pathlib import Path
    assert _lesson(Path("05_token_return.ipynb"), []) == "05"
    assert _lesson(Path("alice.ipynb"), ["from devmem_lab.teach.capstone import q1, q2"]) == "08"
    assert _lesson(Path("bob.ipynb"), ["from devmem_lab.teach import cmsg"]) == "04"
    assert _lesson(Path("eve.ipynb"), ["import pandas"]) is None


@pytest.mark.parametrize(("src", "finding"), [
    ("from devmem_lab.teach import tokens\ntokens.coalesce = lambda t: []", "changes module"),
    ("import devmem_lab.teach.tokens as T\nsetattr(T, 'q1', None)", "changes module"),
    ("import sys\nsys.setprofile(None)", "setprofile"),
    ("import sys\ndel sys.modules['devmem_lab']", "sys.modules"),
    ("exec('x = 1')", "run time (exec)"),
    ("import ctypes", "ctypes"),
    ("import subprocess", "starts processes"),
    ("from devmem_lab.teach.grade import probe", "imports the grader"),
    ("def f():\n    return f.__code__", "__code__"),
    ("import signal\nsignal.signal(14, None)", "signal"),
])
def test_static_scan_flags_tampering(src, finding):
    found = scan([src])
    assert found and finding in found[0], found


def test_static_scan_passes_the_course_notebooks():
    import json
    from pathlib import Path
    root = Path(__file__).resolve().parents[2] / "notebooks"
    for nn in ("01", "02", "03", "04", "05", "08"):
        for path in [*root.glob(f"{nn}_*.ipynb"), *(root / "student").glob(f"{nn}_*.ipynb")]:
            cells = json.loads(path.read_text())["cells"]
            srcs = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
            assert scan(srcs) == [], path


def test_ordinary_attribute_changes_are_not_flagged():
    cell = ("srv.host.nic.hds_linear_bytes = 100\nimport matplotlib.pyplot as plt\n"
            "plt.rcParams['figure.dpi'] = 80\n%matplotlib inline")
    assert scan([cell]) == []


def test_feedback_groups_by_student_folder(tmp_path):
    df = pd.DataFrame([
        [str(tmp_path / "ada" / "05.ipynb"), "5.1", "correct", 1.0, "fine"],
        [str(tmp_path / "ada" / "08.ipynb"), "8.1", "incorrect", 0.5, "half"],
        [str(tmp_path / "bo" / "05.ipynb"), "5.1", "error", 0.0, "broken"]],
        columns=["notebook", "exercise", "verdict", "score", "message"])
    fb = feedback(df)
    assert sorted(fb) == ["ada", "bo"]
    assert "## 05.ipynb" in fb["ada"] and "## 08.ipynb" in fb["ada"]
    assert "- **8.1** (incorrect): half" in fb["ada"]


@pytest.mark.parametrize(("text", "words"), [
    ('{"hello": 1}', "not a notebook: ValueError: no 'cells' list"),
    ('{"cells": "x", "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "not a notebook"),
    ("\x00\x01binary", "not valid JSON"),
    (b"\xff\xfe\x00".decode("latin-1"), "not valid JSON"),
])
def test_files_that_are_not_notebooks_get_rows_without_a_kernel(tmp_path, text, words):
    from devmem_lab.teach.grade.runner import grade_notebook

    path = tmp_path / "05_token_return.ipynb"  # the name says lesson 05: rows for 5.1, 5.2
    path.write_text(text, encoding="utf-8")
    rows = grade_notebook(path)
    assert [(r["exercise"], r["verdict"], r["score"]) for r in rows] == [
        ("5.1", "error", 0.0), ("5.2", "error", 0.0)]
    assert words in rows[0]["message"]


def test_a_missing_file_gets_a_row(tmp_path):
    from devmem_lab.teach.grade.runner import grade_notebook

    rows = grade_notebook(tmp_path / "gone.ipynb")
    assert [(r["exercise"], r["verdict"]) for r in rows] == [("-", "error")]
    assert "cannot read the file" in rows[0]["message"]


def test_nbgrader_test_returns_the_share_of_cases_right(capsys):
    from devmem_lab.teach.grade import nbgrader_test

    assert nbgrader_test("5.1", {"coalesce": own}) == 1.0
    assert capsys.readouterr().out.startswith("correct: exercise 5.1")
    assert nbgrader_test("5.1", {"coalesce": lambda t: [(x, 1) for x in t]}) == pytest.approx(
        4 / 12, abs=1e-4)
    assert nbgrader_test("5.1", {"coalesce": via_import}) == 0.0
    assert "the package's own answer" in capsys.readouterr().out
