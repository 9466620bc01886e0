"""devmem-lab: learn and analyse Linux device-memory TCP without the hardware.

``Lab`` is an emulated pair of hosts whose kernel behaves like Linux at every point a devmem
program can see; ``LinuxHost`` runs the same calls against the real kernel. ``uapi`` holds the
ABI, ``ynl`` the netdev netlink client, ``bandwidth`` and ``exhaustion`` the analysis.

Importing this package is cheap: pandas, matplotlib and ipywidgets load only when used.
"""

from __future__ import annotations

import importlib

from . import uapi
from .errors import DevmemError, EthtoolError, NetlinkError
from .lab import Lab

__all__ = [
    "DevmemError",
    "EthtoolError",
    "Lab",
    "LinuxHost",
    "NetlinkError",
    "bandwidth",
    "exhaustion",
    "uapi",
    "ynl",
]
__version__ = "0.1.0"

_LAZY = {"LinuxHost": ("linux_host", "LinuxHost"), "ynl": ("ynl", None),
         "bandwidth": ("bandwidth", None), "exhaustion": ("exhaustion", None),
         "widgets": ("widgets", None), "teach": ("teach", None)}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(f".{module}", __name__)
        return getattr(mod, attr) if attr else mod
    raise AttributeError(f"module 'devmem_lab' has no attribute {name!r}")
