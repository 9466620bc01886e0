"""Generic netlink for the emulated kernel: wire format, the netdev family, its handlers.

``wire`` models ``include/uapi/linux/netlink.h`` and ``net/netlink/af_netlink.c`` (messages,
attributes, acks with extack); ``family`` is the netdev family table of
``Documentation/netlink/specs/netdev.yaml``; ``netdev_genl`` models ``net/core/netdev-genl.c``
and ``net/netlink/genetlink.c``; ``socket`` is ``socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)``.
"""

from __future__ import annotations

__all__ = ["family", "netdev_genl", "socket", "wire"]
