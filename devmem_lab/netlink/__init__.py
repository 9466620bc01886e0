"""The netlink protocol shared by the emulated kernel and every client of a real one.

``wire`` models ``include/uapi/linux/netlink.h`` and the message layout of
``net/netlink/af_netlink.c`` (messages, attributes, acks with extack); ``family`` is the netdev
family table of ``Documentation/netlink/specs/netdev.yaml``. The emulated kernel's side
(genetlink handlers, the netlink socket) is in :mod:`devmem_lab.kernel`.
"""

from __future__ import annotations

__all__ = ["family", "wire"]
