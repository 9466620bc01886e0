"""One figure style for every lesson: legible at the width JupyterLab shows a figure.

JupyterLab shows an inline PNG at its pixel size, so ``figure.dpi`` 100 (the most nbval's
style guide allows) with 10-point text gives letters about 14 px high; figures of 6.4 x 3.4
inches (640 x 340 px) fit the notebook column of a laptop screen without being scaled down.
Constrained layout keeps titles, tick labels and legends from overlapping.
"""

from __future__ import annotations

__all__ = ["RC", "use"]

RC = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (6.4, 3.4),
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
}


def use() -> None:
    """Apply :data:`RC` to matplotlib (the setup cell of every lesson calls this)."""
    import matplotlib.pyplot as plt

    plt.rcParams.update(RC)
