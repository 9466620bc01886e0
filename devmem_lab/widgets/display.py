"""Display a lesson widget with a fallback for pages that cannot run it.

A widget view needs a live kernel. The course site (``make site``) shows notebooks from
their stored outputs, where a widget is dead: there the output's ``text/html`` says so, and
its ``text/plain`` is the explorer's own short repr instead of a truncated ``VBox(...)``.
JupyterLab ranks the widget view above both, so a student there sees the live widget.
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["OFFLINE_NOTE", "show"]

OFFLINE_NOTE = ("Interactive widget: it runs when this lesson runs in JupyterLab (the launch "
                "button at the top of the page opens it on Binder).")


def show(widget: Any, plain: str) -> None:
    """Display ``widget`` (an ipywidget) with ``plain`` as its text form and the offline note
    as its HTML form."""
    from IPython.display import display

    bundle = dict(widget._repr_mimebundle_())
    bundle["text/plain"] = plain
    bundle["text/html"] = (f'<p class="widget-offline"><em>'
                           f'{html.escape(OFFLINE_NOTE)}</em></p>')
    display(bundle, raw=True)
