"""Re-run solution notebooks in place, keeping only what nbval compares.

``python -m devmem_lab.teach.execute notebooks/05_token_return.ipynb ...`` runs each notebook
top to bottom in a fresh kernel (execution counts 1..n) and drops the noise a run adds:
per-cell execution timestamps and saved widget state (widget model ids change every run).
Then regenerate the student copies with ``python -m devmem_lab.teach.student notebooks/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["execute", "tidy"]


def tidy(nb) -> None:
    """Remove run-specific metadata from a notebook node, in place, and join consecutive
    stream outputs of one stream (how a run splits them depends on timing)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        outputs = []
        for out in cell.get("outputs", []):
            prev = outputs[-1] if outputs else None
            if (out.output_type == "stream" and prev is not None
                    and prev.output_type == "stream" and prev.name == out.name):
                prev.text += out.text
            else:
                outputs.append(out)
        if "outputs" in cell:
            cell.outputs = outputs


def execute(path: str | Path, timeout: int = 600) -> None:
    """Execute ``path`` in place with the current Python and tidy it."""
    import nbformat
    from nbclient import NotebookClient

    os.environ.setdefault("MPLBACKEND", "Agg")
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    tidy(nb)
    nbformat.write(nb, path)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m devmem_lab.teach.execute NOTEBOOK.ipynb ...")
    for arg in sys.argv[1:]:
        execute(arg)
        print(f"executed {arg}")
