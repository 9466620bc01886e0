"""Sphinx configuration of the course site (``make site``).

The source directory is the repository root (``sphinx-build -c docs . build/site``), so
pages keep their repository paths: ``notebooks/05_token_return``, ``notebooks/student/...``,
``docs/glossary``. Notebooks are rendered from their stored outputs (MyST-NB with
``nb_execution_mode = "off"``): the site shows exactly what nbval checked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "devmem-lab"
author = "devmem-lab contributors"
copyright = "devmem-lab contributors"

# GitHub repository the launch buttons and "edit" links point at
REPO = os.environ.get("DEVMEM_LAB_REPO", "devmem-lab/devmem-lab")
BRANCH = os.environ.get("DEVMEM_LAB_BRANCH", "main")
KERNEL_VERSION = "v6.18"  # the release the default lab models

extensions = ["myst_nb", "kernel_source", "binder_student"]
root_doc = "docs/index"
include_patterns = ["docs/**", "notebooks/*.ipynb", "notebooks/student/*.ipynb",
                    "notebooks/README.md"]
exclude_patterns = ["docs/_build/**", "docs/_ext/**", "**/.ipynb_checkpoints/**"]
templates_path = []
suppress_warnings = ["myst.header"]  # notebooks open with one H1 and jump to H2 sections

# ---- MyST-NB: stored outputs only, no kernel ------------------------------------------
nb_execution_mode = "off"
nb_output_stderr = "show"
# No widget state is stored (execute.py drops it) and the widget JavaScript would come from
# a CDN: show each widget's text form; the static figure after it is what the page teaches.
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/vnd.jupyter.widget-state+json", None)]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# ---- kernel source links (docs/_ext/kernel_source.py) ---------------------------------
kernel_source_url = f"https://elixir.bootlin.com/linux/{KERNEL_VERSION}/source/"

# ---- HTML ------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "devmem-lab: device memory TCP, hands on"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_last_updated_fmt = None
html_copy_source = True
html_theme_options = {
    "repository_url": f"https://github.com/{REPO}",
    "repository_branch": BRANCH,
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": True,
    "launch_buttons": {"binderhub_url": "https://mybinder.org",
                       "notebook_interface": "jupyterlab"},
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "navigation_with_keys": False,
}
# figures are drawn on white: light by default (also stops the theme's "invalid theme mode"
# console error on a first visit)
html_context = {"default_mode": "light"}
