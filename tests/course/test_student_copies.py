"""The committed student copies are what the generator makes, and the generator works.

``devmem_lab.teach.student`` (style guide section 3): solution regions become a
``NotImplementedError`` stub, ``solution``-tagged cells disappear, outputs are cleared, cell
ids and tags stay. ``--check`` fails on a stale copy. And a learner's work is never lost: an
edited copy is never overwritten, a file the generator did not write is never removed.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from devmem_lab.teach import student

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def test_committed_student_copies_are_up_to_date():
    """Generated content against the manifest (a learner's edits do not count; with CI=true
    the committed files must also be exactly what was generated)."""
    problems = student.stale(NOTEBOOKS)
    assert not problems, "\n".join(problems + ["run: python -m devmem_lab.teach.student notebooks/"])


def test_every_exercise_notebook_has_a_student_copy():
    expected = {"01", "02", "03", "04", "05", "08", "10"}
    have = {p.name[:2] for p in student.generate(NOTEBOOKS)}
    assert expected <= have
    assert expected <= {p.name[:2] for p in (NOTEBOOKS / "student").glob("*.ipynb")}


def test_student_copies_hold_no_solutions_and_no_outputs():
    for path, nb in student.generate(NOTEBOOKS).items():
        for cell in nb.cells:
            assert student.BEGIN not in cell.source and student.END not in cell.source, path
            assert "solution" not in cell.get("metadata", {}).get("tags", []), path
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path
        assert any("raise NotImplementedError" in c.source for c in nb.cells), path


# ---- the generator on tiny fixture notebooks -----------------------------------------------
def _fixture(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                  "language": "python"}, "widgets": {"state": {}}}
    cells = [
        nbformat.v4.new_markdown_cell("# Do a thing"),
        nbformat.v4.new_code_cell("def f(x):\n    \"\"\"Double.\"\"\"\n    # BEGIN SOLUTION\n"
                                  "    y = 2 * x\n    return y\n    # END SOLUTION\n\n\n"
                                  "q1.check(f)"),
        nbformat.v4.new_markdown_cell("The worked answer."),
        nbformat.v4.new_code_cell("print('ok')"),
    ]
    cells[2].metadata["tags"] = ["solution"]
    cells[3].metadata["tags"] = ["keep-me"]
    cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="ok\n")]
    cells[3].execution_count = 3
    for i, c in enumerate(cells):
        c.id = f"cell-{i}"
    nb.cells = cells
    (tmp_path / "07_thing.ipynb").write_text(nbformat.writes(nb))
    plain = nbformat.v4.new_notebook()
    plain.cells = [nbformat.v4.new_markdown_cell("# No exercises here")]
    (tmp_path / "09_plain.ipynb").write_text(nbformat.writes(plain))
    return tmp_path


def test_generator_stubs_drops_and_clears(tmp_path):
    src = _fixture(tmp_path)
    written = student.write(src).written
    assert [p.name for p in written] == ["07_thing.ipynb"]  # no markers, no copy
    nb = nbformat.read(src / "student" / "07_thing.ipynb", as_version=4)
    assert [c.id for c in nb.cells] == ["cell-0", "cell-1", "cell-3"]
    assert nb.cells[1].source == (
        'def f(x):\n    """Double."""\n    raise NotImplementedError("exercise 7.1: your '
        'code here (q1.hint() gives a hint)")\n\n\nq1.check(f)')
    assert nb.cells[2].metadata["tags"] == ["keep-me"]
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count is None
    assert "widgets" not in nb.metadata


def test_stub_runs_and_raises_only_when_called(tmp_path):
    src = _fixture(tmp_path)
    student.write(src)
    nb = nbformat.read(src / "student" / "07_thing.ipynb", as_version=4)
    ns: dict = {}
    exec(nb.cells[1].source.replace("q1.check(f)", ""), ns)  # noqa: S102 - defining is fine
    with pytest.raises(NotImplementedError, match="exercise 7.1"):
        ns["f"](2)


def _edit(path: Path, text: str = "\n# my answer") -> bytes:
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source += text
    path.write_text(nbformat.writes(nb))
    return path.read_bytes()


def _learner_files(dest: Path) -> dict[str, bytes]:
    """A learner's own notebooks, as JupyterLab would leave them."""
    files = {"my_notes.ipynb": nbformat.writes(nbformat.v4.new_notebook()).encode(),
             "07_thing-Copy1.ipynb": (dest / "07_thing.ipynb").read_bytes(),
             "scratch.txt": b"not a notebook"}
    for name, data in files.items():
        (dest / name).write_bytes(data)
    return files


def test_check_reports_a_stale_copy(tmp_path, capsys):
    src = _fixture(tmp_path)
    assert student.main([str(src), "--check"]) == 1  # nothing generated yet
    student.write(src)
    assert student.main([str(src), "--check"]) == 0
    sol = src / "07_thing.ipynb"
    nb = nbformat.read(sol, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("2 * x", "x + x")
    nb.cells[0].source = "# Do a thing, better"
    sol.write_text(nbformat.writes(nb))
    path = src / "student" / "07_thing.ipynb"
    assert student.stale(src) == [f"{path}: its solution notebook changed since it was generated"]
    report = student.write(src)  # unchanged copy: rewritten
    assert report.written == [path] and student.stale(src) == []
    capsys.readouterr()


def test_a_learners_edits_and_notebooks_survive_write_and_check(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CI", raising=False)  # a learner's machine
    src = _fixture(tmp_path)
    student.write(src)
    dest = src / "student"
    mine = _edit(dest / "07_thing.ipynb")
    extra = _learner_files(dest)
    assert student.stale(src, files=False) == []  # the learner's edits are not staleness
    assert student.main([str(src), "--check"]) == 0
    assert "note: " in capsys.readouterr().out  # says which copies hold the learner's work
    report = student.write(src)
    assert report.kept == [dest / "07_thing.ipynb"] and report.written == []
    assert "make student FORCE=07_thing" in "\n".join(report.lines())
    assert (dest / "07_thing.ipynb").read_bytes() == mine
    for name, data in extra.items():
        assert (dest / name).read_bytes() == data
    # the solution changes too: the edited copy is still kept, byte for byte
    sol = src / "07_thing.ipynb"
    nb = nbformat.read(sol, as_version=4)
    nb.cells[0].source = "# Do a thing, v2"
    sol.write_text(nbformat.writes(nb))
    assert student.write(src).kept == [dest / "07_thing.ipynb"]
    assert (dest / "07_thing.ipynb").read_bytes() == mine
    assert student.stale(src, files=False) == []
    assert student.stale(src, files=True) == [
        f"{dest / '07_thing.ipynb'}: the file is not what was generated (edited by hand?)"]
    capsys.readouterr()


def test_reset_saves_the_learners_copy_first(tmp_path, capsys):
    src = _fixture(tmp_path)
    student.write(src)
    dest = src / "student"
    mine = _edit(dest / "07_thing.ipynb")
    assert student.main([str(src), "--reset", "07_thing"]) == 0
    assert (dest / "07_thing.saved-1.ipynb").read_bytes() == mine
    assert student.stale(src, files=True) == []
    mine2 = _edit(dest / "07_thing.ipynb", "\n# second try")
    student.write(src, reset=["07_thing.ipynb"])
    assert (dest / "07_thing.saved-1.ipynb").read_bytes() == mine  # never overwritten
    assert (dest / "07_thing.saved-2.ipynb").read_bytes() == mine2
    assert student.main([str(src), "--reset", "nosuch"]) == 2
    capsys.readouterr()


def test_only_unchanged_generated_copies_are_ever_removed(tmp_path, capsys):
    src = _fixture(tmp_path)
    student.write(src)
    dest = src / "student"
    extra = _learner_files(dest)
    # a second lesson with exercises, then both lose their markers
    (src / "08_other.ipynb").write_text((src / "07_thing.ipynb").read_text())
    student.write(src)
    mine = _edit(dest / "08_other.ipynb")
    plain = nbformat.v4.new_notebook()
    plain.cells = [nbformat.v4.new_markdown_cell("# No exercises any more")]
    for name in ("07_thing.ipynb", "08_other.ipynb"):
        (src / name).write_text(nbformat.writes(plain))
    assert len(student.stale(src)) == 2  # both manifest entries have no lesson now
    report = student.write(src)
    assert report.removed == [dest / "07_thing.ipynb"]  # unchanged: it was ours
    assert (dest / "08_other.ipynb").read_bytes() == mine  # changed: the learner's now
    for name, data in extra.items():
        assert (dest / name).read_bytes() == data
    assert student.stale(src) == []
    capsys.readouterr()


def test_an_unreadable_copy_is_kept(tmp_path, capsys):
    src = _fixture(tmp_path)
    dest = src / "student"
    dest.mkdir()
    (dest / "07_thing.ipynb").write_bytes(b"\xff\xfe not json")  # no manifest either
    assert student.write(src).kept == [dest / "07_thing.ipynb"]
    assert (dest / "07_thing.ipynb").read_bytes() == b"\xff\xfe not json"
    capsys.readouterr()


def test_pristine_copies_go_to_a_build_folder(tmp_path):
    src = _fixture(tmp_path)
    student.write(src)
    _edit(src / "student" / "07_thing.ipynb")
    out = student.write_pristine(src, tmp_path / "build")
    assert out == [tmp_path / "build" / "07_thing.ipynb"]
    assert "my answer" not in out[0].read_text()
    with pytest.raises(ValueError, match="where learners work"):
        student.write_pristine(src, src / "student")


def test_outputs_are_ignored_by_the_check(tmp_path):
    src = _fixture(tmp_path)
    student.write(src)
    path = src / "student" / "07_thing.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    nb.cells[2].execution_count = 1
    path.write_text(nbformat.writes(nb))
    assert student.stale(src, files=False) == []


@pytest.mark.parametrize("source", [
    "# BEGIN SOLUTION\nx = 1",
    "x = 1\n# END SOLUTION",
    "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION",
])
def test_unbalanced_markers_are_an_error(source):
    with pytest.raises(ValueError):
        student.strip_solutions(source, "3")


def test_execute_tidy_joins_split_streams_and_drops_run_noise():
    from devmem_lab.teach.execute import tidy
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"state": {}}
    cell = nbformat.v4.new_code_cell("print('q2: correct')")
    cell.metadata["execution"] = {"iopub.execute_input": "2026-12-01T00:00:00Z"}
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="q2: correct"),
                    nbformat.v4.new_output("stream", name="stdout", text="\n"),
                    nbformat.v4.new_output("stream", name="stderr", text="warn\n"),
                    nbformat.v4.new_output("stream", name="stdout", text="again\n")]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("# text")]
    tidy(nb)
    assert "widgets" not in nb.metadata and "execution" not in cell.metadata
    assert [(o.name, o.text) for o in cell.outputs] == [
        ("stdout", "q2: correct\n"), ("stderr", "warn\n"), ("stdout", "again\n")]
