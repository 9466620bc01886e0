"""The emulated ``ethtool(8)``: real command lines in, ethtool's own text out.

``main`` holds the sub-commands (``ethtool.c``), ``rxclass`` the ntuple rules (``rxclass.c``),
``internal`` what they share (``internal.h``). It runs against an emulated
:class:`devmem_lab.kernel.Kernel`, as the real tool runs against the running kernel.
"""

from __future__ import annotations

from .main import run

__all__ = ["run"]
