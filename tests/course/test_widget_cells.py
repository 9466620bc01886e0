"""A widget a lesson displays is the student's: no later cell may drive it.

If the cell after a widget set its sliders or pressed its buttons, Run All would leave the
widget in a state the student never chose (and the static figure below it would not match).
Each widget display cell ends on a bare name; later code cells must not mention that name
(they build their own object to demonstrate the controls from code).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def displayed_widgets(nb: dict) -> list[tuple[int, str]]:
    """(cell index, displayed name) of every cell whose stored output is a widget view."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if any(WIDGET_VIEW in o.get("data", {}) for o in cell.get("outputs", [])):
            last = "".join(cell["source"]).strip().splitlines()[-1].strip()
            assert re.fullmatch(r"\w+", last), f"cell {i}: widget cell should end on its name"
            found.append((i, last))
    return found


def _code(source: str) -> str:
    """The source without comments."""
    return "\n".join(line.split("#", 1)[0] for line in source.splitlines())


NOTEBOOKS = sorted(p for p in (REPO / "notebooks").glob("[0-9]*.ipynb")
                   if displayed_widgets(json.loads(p.read_text())))


def test_the_lessons_with_widgets_are_found():
    names = {p.name[:2] for p in NOTEBOOKS}
    assert {"02", "05", "06", "07"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_later_cell_touches_a_displayed_widget(path):
    nb = json.loads(path.read_text())
    for i, name in displayed_widgets(nb):
        uses = re.compile(rf"(?<![\w.]){re.escape(name)}\s*[.\[]")  # name.controls, name[...]
        later = [j for j, c in enumerate(nb["cells"][i + 1:], start=i + 1)
                 if c["cell_type"] == "code" and uses.search(_code("".join(c["source"])))]
        assert not later, f"{path.name}: cells {later} use {name!r}, shown in cell {i}"
