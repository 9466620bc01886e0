"""Errors the kernel would return, as ``OSError`` subclasses.

Learners catch ``OSError`` and test ``e.errno`` exactly as on a real host. The message is the
kernel's extack text where one exists (``net/core/netdev-genl.c``, ``net/ethtool/*.c``), else
``os.strerror(errno)``.
"""

from __future__ import annotations

import os

__all__ = ["DevmemError", "EthtoolError", "NetlinkError"]


class DevmemError(OSError):
    """An error the kernel would return: ``.errno`` and ``.strerror``, as from a real socket."""

    def __init__(self, err: int, msg: str | None = None):
        super().__init__(err, msg or os.strerror(err))


class NetlinkError(DevmemError):
    """A netlink request answered with ``NLMSG_ERROR`` and a negative error.

    Attributes mirror the extack TLVs of ``include/uapi/linux/netlink.h``:
    ``extack_msg`` (NLMSGERR_ATTR_MSG), ``bad_attr_offset`` (NLMSGERR_ATTR_OFFS, byte offset
    of the offending attribute inside the request) and ``missing_attr`` (NLMSGERR_ATTR_MISS_TYPE).
    Absent TLVs are ``None``.
    """

    def __init__(
        self,
        err: int,
        extack_msg: str | None = None,
        bad_attr_offset: int | None = None,
        missing_attr: int | None = None,
        missing_nest: int | None = None,
    ):
        text = os.strerror(err)
        if extack_msg:
            text = f"{text}: {extack_msg}"
        super().__init__(err, text)
        self.extack_msg = extack_msg
        self.bad_attr_offset = bad_attr_offset
        self.missing_attr = missing_attr
        self.missing_nest = missing_nest

    def __repr__(self) -> str:
        parts = [f"errno={self.errno}"]
        for name in ("extack_msg", "bad_attr_offset", "missing_attr"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        return f"NetlinkError({', '.join(parts)})"


class EthtoolError(DevmemError):
    """An ``ethtool`` command that failed; ``strerror`` is the text ethtool would print."""
