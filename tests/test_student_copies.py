"""The committed student copies are what the generator makes, and the generator works.

``devmem_lab.teach.student`` (style guide section 3): solution regions become a
``NotImplementedError`` stub, ``solution``-tagged cells disappear, outputs are cleared, cell
ids and tags stay. ``--check`` fails on a stale copy.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from devmem_lab.teach import student

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def test_committed_student_copies_are_up_to_date():
    problems = student.stale(NOTEBOOKS)
    assert not problems, "\n".join(problems + ["run: python -m devmem_lab.teach.student notebooks/"])


def test_every_exercise_notebook_has_a_student_copy():
    expected = {"01", "02", "03", "04", "05", "08", "10"}
    have = {p.name[:2] for p in (NOTEBOOKS / "student").glob("*.ipynb")}
    assert expected <= have


def test_student_copies_hold_no_solutions_and_no_outputs():
    for path in (NOTEBOOKS / "student").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
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
    written = student.write(src)
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


def test_check_reports_stale_and_orphan_copies(tmp_path, capsys):
    src = _fixture(tmp_path)
    assert student.main([str(src), "--check"]) == 1  # nothing generated yet
    student.write(src)
    assert student.main([str(src), "--check"]) == 0
    path = src / "student" / "07_thing.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source += "\n# edited by hand"
    path.write_text(nbformat.writes(nb))
    assert student.stale(src) == [f"{path}: differs from its solution notebook at cell 1"]
    student.write(src)
    (src / "student" / "05_orphan.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    assert any("05_orphan" in p for p in student.stale(src))
    student.write(src)  # removes the orphan
    assert student.stale(src) == []
    capsys.readouterr()


def test_outputs_are_ignored_by_the_check(tmp_path):
    src = _fixture(tmp_path)
    student.write(src)
    path = src / "student" / "07_thing.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    nb.cells[2].execution_count = 1
    path.write_text(nbformat.writes(nb))
    assert student.stale(src) == []


@pytest.mark.parametrize("source", [
    "# BEGIN SOLUTION\nx = 1",
    "x = 1\n# END SOLUTION",
    "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION",
])
def test_unbalanced_markers_are_an_error(source):
    with pytest.raises(ValueError):
        student.strip_solutions(source, "3")
