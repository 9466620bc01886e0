"""Helpers for tests/course/test_browser.py: find the browser, run a JupyterLab server, drive it.

The browser is Debian's ``chromium`` package driven by playwright (playwright's own browser
download is not reachable from the build machines). Outside CI a missing piece skips the
test with the command that installs it; in CI (``CI`` set to true) it fails instead.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from prereq import require

from devmem_lab import prerequisites as pre

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
# copied into a scratch root so that running the notebooks never rewrites the repo's files
_SKIP_COPY = shutil.ignore_patterns(".git", ".venv", "venv", ".hypothesis", "__pycache__",
                                    "*.egg-info", ".pytest_cache", ".ipynb_checkpoints",
                                    "node_modules", "build", "dist")


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def require_browser() -> str:
    """The chromium executable; skip (fail in CI) when chromium, playwright or JupyterLab is
    missing (the one policy of ``devmem_lab.prerequisites``)."""
    require(pre.CHROMIUM, pre.PLAYWRIGHT, pre.JUPYTERLAB)
    return chromium_path()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab_server(timeout_s: float = 60.0):
    """Start ``jupyter lab`` on a free port over a scratch copy of the repo.

    Yields ``(base_url, token, root)``. Settings, workspaces and runtime files live in a
    temporary directory; news and update checks are off (no network, no pop-up).
    """
    with tempfile.TemporaryDirectory(prefix="devmem-lab-browser-") as tmp:
        tmp_path = Path(tmp)
        root = tmp_path / "repo"
        shutil.copytree(REPO, root, ignore=_SKIP_COPY, symlinks=True)
        settings = tmp_path / "settings" / "@jupyterlab"
        for ext, name, values in (
                ("apputils-extension", "notification", {"fetchNews": "false",
                                                        "checkForUpdates": False}),
                # every cell in the DOM, rendered: nothing hides off-screen output
                ("notebook-extension", "tracker", {"windowingMode": "none"})):
            (settings / ext).mkdir(parents=True)
            (settings / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
        port, token = free_port(), secrets.token_hex(16)
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
                   JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
        env.pop("MPLBACKEND", None)  # the kernel's inline backend, as a student gets it
        log_path = tmp_path / "jupyter.log"
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
               "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
               f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
               f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
               "--LabApp.news_url=", "--ServerApp.open_browser=False"]
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=root)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n"
                                       + log_path.read_text()[-3000:])
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}",
                                                timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("jupyter lab did not answer within "
                                           f"{timeout_s:.0f} s:\n"
                                           + log_path.read_text()[-3000:]) from None
                    time.sleep(0.2)
            yield base, token, root, log_path
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


# ---- JavaScript run in the page (JupyterLab started with expose_app_in_browser) ------------
OPEN_ALL = """async (paths) => {
    const app = window.jupyterapp;
    window.__panels = {};
    for (const p of paths) {
        window.__panels[p] = await app.commands.execute('docmanager:open', {path: p});
    }
}"""

KERNELS_IDLE = """(paths) => paths.every(p => {
    const s = window.__panels[p].sessionContext.session;
    return s && s.kernel && s.kernel.status === 'idle';
})"""

# 'notebook:run-all-cells' acts on the current notebook: activate each in turn, start its run,
# and wait for all of them (kernels run side by side). Each run resolves to false if a cell
# raised.
RUN_ALL = """async (paths) => {
    const app = window.jupyterapp;
    const tick = () => new Promise(r => setTimeout(r, 20));
    const runs = [];
    for (const p of paths) {
        const w = window.__panels[p];
        app.shell.activateById(w.id);
        while (app.shell.currentWidget !== w) await tick();
        await tick();
        runs.push(app.commands.execute('notebook:run-all-cells'));
        await tick();
    }
    return await Promise.all(runs);
}"""

PANEL_ID = "(p) => window.__panels[p].id"

# The notebook model as the browser holds it: per code cell, execution count and the
# output types with the error name / stream name (independent of what the DOM shows).
CELL_REPORT = """(p) => {
    const cells = window.__panels[p].content.model.cells;
    const out = [];
    for (let i = 0; i < cells.length; i++) {
        const c = cells.get(i);
        if (c.type !== 'code') continue;
        const outputs = [];
        for (let j = 0; j < c.outputs.length; j++) {
            const o = c.outputs.get(j).toJSON();
            outputs.push([o.output_type, o.ename || o.name || '', o.evalue || '']);
        }
        out.push({index: i, count: c.executionCount, outputs: outputs});
    }
    return out;
}"""
ACTIVATE = "(p) => window.jupyterapp.shell.activateById(window.__panels[p].id)"

# What a control drives: the widget's output area without the sliders and their read-outs.
DRIVEN_STATE = """(el) => {
    const area = el.closest('.jp-OutputArea-output') || el.closest('.jp-OutputArea');
    const copy = area.cloneNode(true);
    copy.querySelectorAll('.widget-slider, .widget-readout, input, button')
        .forEach(e => e.remove());
    const imgs = [...copy.querySelectorAll('img')].map(i => i.getAttribute('src') || '');
    return copy.textContent + '|' + imgs.join(',');
}"""
