"""Sphinx extension: a lesson page's Binder button opens the learner's copy.

sphinx-book-theme points "launch" at the page's own notebook, which for a lesson is the
solution. Where ``notebooks/student/<same name>.ipynb`` exists, the Binder link is pointed
at that copy instead, so a learner lands in the exercises (JupyterLab, ``lab/tree``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["setup", "student_path"]


def student_path(pagename: str, srcdir: Path) -> str | None:
    """``notebooks/student/NN.ipynb`` for lesson page ``notebooks/NN``, if that copy exists."""
    parts = pagename.split("/")
    if len(parts) != 2 or parts[0] != "notebooks":
        return None
    rel = f"notebooks/student/{parts[1]}.ipynb"
    return rel if (srcdir / rel).exists() else None


def _retarget(app, pagename, templatename, context, doctree) -> None:
    rel = student_path(pagename, Path(app.srcdir))
    if rel is None:
        return
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if isinstance(group, dict) else []:
            url = button.get("url", "")
            if button.get("text") == "Binder" and "?urlpath=" in url:
                button["url"] = url.split("?urlpath=")[0] + f"?urlpath=lab/tree/{rel}"
                button["tooltip"] = "Launch the exercises on Binder"


def setup(app):
    app.connect("html-page-context", _retarget, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
