"""The lesson notebooks in a real browser: JupyterLab in headless Chromium, via playwright.

One JupyterLab server (over a scratch copy of the repo) and one browser page serve the whole
module: every solution notebook in ``notebooks/`` is opened and run with "Run All Cells"
(the kernels run side by side), then each is checked for error output, and in each notebook
that builds widgets the widgets must render and answer: a slider moved with the keyboard (its
handle focused, arrow key pressed, as a student would) must change the text or the figure it
drives, or, where the slider only sets an amount, the next click of the button beside it must.

Outside CI a missing chromium/playwright skips with the install command; with ``CI=true`` it
fails. Runs in about 40 s on two cores.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from browser_support import (
    ACTIVATE,
    CELL_REPORT,
    CHROMIUM_FLAGS,
    DRIVEN_STATE,
    KERNELS_IDLE,
    OPEN_ALL,
    PANEL_ID,
    REPO,
    RUN_ALL,
    jupyterlab_server,
    require_browser,
)

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted(p.relative_to(REPO).as_posix()
                   for p in (REPO / "notebooks").glob("[0-9]*.ipynb"))


def builds_widgets(path: str) -> bool:
    """The notebook displays a widget (its stored outputs hold a widget view); importing
    devmem_lab.widgets for the figure style or the data-path diagram does not count."""
    nb = json.loads((REPO / path).read_text())
    return any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
               for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []))


WIDGET_NOTEBOOKS = [p for p in NOTEBOOKS if builds_widgets(p)]


class Session:
    """The page with every notebook open and run; ``runs[path]`` is Run All's result."""

    def __init__(self, page, runs: dict[str, bool], shots: Path, log: Path) -> None:
        self.page, self.runs, self.shots, self.log = page, runs, shots, log

    def panel(self, path: str):
        self.page.evaluate(ACTIVATE, path)
        return self.page.locator(f"#{self.page.evaluate(PANEL_ID, path)}")

    def shot(self, path: str) -> str:
        out = self.shots / (Path(path).stem + ".png")
        self.page.screenshot(path=str(out))
        return f"(screenshot: {out})"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    exe = require_browser()
    from playwright.sync_api import sync_playwright

    assert NOTEBOOKS, "no notebooks found"
    shots = tmp_path_factory.mktemp("browser")
    with jupyterlab_server() as (base, token, _root, log), sync_playwright() as pw:
        # headless=True adds --headless; playwright gives every launch a fresh profile dir
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS[1:],
                                     headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(f"{base}/lab?token={token}")
            page.wait_for_function("window.jupyterapp && window.jupyterapp.started",
                                   timeout=60_000)
            page.evaluate("window.jupyterapp.restored")
            page.evaluate(OPEN_ALL, NOTEBOOKS)
            page.wait_for_function(KERNELS_IDLE, arg=NOTEBOOKS, timeout=90_000)
            results = page.evaluate(RUN_ALL, NOTEBOOKS)
            page.wait_for_function(KERNELS_IDLE, arg=NOTEBOOKS, timeout=60_000)
            yield Session(page, dict(zip(NOTEBOOKS, results)), shots, log)
        finally:
            browser.close()


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_run_all_reaches_the_bottom_without_errors(lab, path):
    panel = lab.panel(path)
    shown = panel.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    texts = shown.all_text_contents()
    assert not texts, f"{path}: error/stderr output in the browser {lab.shot(path)}:\n" + \
        "\n---\n".join(t[:2000] for t in texts)
    cells = lab.page.evaluate(CELL_REPORT, path)
    bad = [(c["index"], o) for c in cells for o in c["outputs"]
           if o[0] == "error" or (o[0] == "stream" and o[1] == "stderr")]
    assert not bad, f"{path}: error outputs {bad} {lab.shot(path)}"
    unrun = [c["index"] for c in cells if c["count"] is None]
    assert not unrun, f"{path}: cells {unrun} never ran {lab.shot(path)}"
    counts = [c["count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"{path}: out of order {counts}"
    assert lab.runs[path] is True, f"{path}: Run All reported a failed cell {lab.shot(path)}"


def _wait_changed(page, handle, before: str, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if handle.evaluate(DRIVEN_STATE) != before:
            return True
        page.wait_for_timeout(100)
    return False


@pytest.mark.parametrize("path", WIDGET_NOTEBOOKS)
def test_widgets_render_and_a_slider_drives_its_output(lab, path):
    panel = lab.panel(path)
    widgets = panel.locator(".jupyter-widgets")
    assert widgets.count() > 0, f"{path}: no widget rendered {lab.shot(path)}"
    text = panel.text_content()
    for bad in ("Error displaying widget", "Model not found", "Loading widget..."):
        assert bad not in text, f"{path}: {bad!r} {lab.shot(path)}"
    handles = panel.locator(".widget-slider .noUi-handle")
    assert handles.count() > 0, f"{path}: widgets but no slider {lab.shot(path)}"
    tried = []
    for i in range(min(handles.count(), 3)):
        handle = handles.nth(i)
        handle.scroll_into_view_if_needed()
        slider = handle.locator("xpath=ancestor::*[contains(@class,'widget-slider')][1]")
        readout = slider.locator(".widget-readout")
        label = slider.locator(".widget-label").inner_text()
        value = readout.inner_text() if readout.count() else ""
        before = handle.evaluate(DRIVEN_STATE)
        handle.focus()
        # a slider that starts at its maximum moves left, as a student would move it
        key = "ArrowLeft" if handle.get_attribute("aria-valuenow") == \
            handle.get_attribute("aria-valuemax") else "ArrowRight"
        handle.press(key)
        if readout.count():  # the slider moved (the front end changed the widget model)
            deadline = time.monotonic() + 5
            while readout.inner_text() == value and time.monotonic() < deadline:
                handle.press(key)
                lab.page.wait_for_timeout(100)
            assert readout.inner_text() != value, f"{path}: slider {label!r} did not move"
        if _wait_changed(lab.page, handle, before, timeout_s=3):
            return
        # a slider that only sets an amount: the button beside it acts on it
        button = slider.locator("xpath=..").locator("button")
        if button.count():
            before = handle.evaluate(DRIVEN_STATE)
            button.first.click()
            if _wait_changed(lab.page, handle, before):
                return
        tried.append(label)
    pytest.fail(f"{path}: moving sliders {tried} changed nothing they drive {lab.shot(path)}")


SHOTS = REPO / "build" / "screenshots" / "lab"
FIGURES = '.jp-OutputArea-output[data-mime-type="image/png"] img'
# a displayed widget: an output holding widget boxes, not one nested in an Output widget
WIDGETS = (".jp-OutputArea-output:has(.widget-box)"
           ":not(.jp-OutputArea-output .jp-OutputArea-output)")
# natural size of a figure and the width of the output area that shows it
FIT = """(img) => [img.naturalWidth, img.naturalHeight,
               img.closest('.jp-OutputArea-output').clientWidth]"""


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_figures_fit_jupyterlab_and_are_saved_as_screenshots(lab, path):
    """Every figure loaded and is shown at its own size (not scaled down, so its text is as
    legible as the style made it); each figure and widget is saved as it looks in JupyterLab
    under build/screenshots/lab/<notebook>/ for a reviewer."""
    panel = lab.panel(path)
    out = SHOTS / Path(path).stem
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    figures, widgets = panel.locator(FIGURES), panel.locator(WIDGETS)
    assert figures.count() > 0, f"{path}: no figure (every lesson opens with the data path)"
    too_wide = []
    for i in range(figures.count()):
        fig = figures.nth(i)
        fig.scroll_into_view_if_needed()
        width, height, area = fig.evaluate(FIT)
        assert width > 0 and height > 0, f"{path}: figure {i + 1} did not load"
        if width > area:
            too_wide.append((i + 1, width, area))
        fig.screenshot(path=str(out / f"figure_{i + 1:02d}.png"))
    assert widgets.count() >= builds_widgets(path), f"{path}: widget not found"
    for i in range(widgets.count()):
        widget = widgets.nth(i)
        widget.scroll_into_view_if_needed()
        widget.screenshot(path=str(out / f"widget_{i + 1:02d}.png"))
    assert not too_wide, f"{path}: figures scaled down to fit (n, px, area px): {too_wide}"
