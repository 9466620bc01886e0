"""One emulated machine: its kernel, ``lo`` and NIC, dma-bufs, sockets and tools.

Emulator only (no single kernel file): ties the parts of :mod:`devmem_lab.kernel` together
behind the names a learner uses on a real host (``if_nametoindex``, ``ethtool``, ``socket``,
a netlink socket). The kernel code below it never sees a ``Host``: ethtool runs against the
kernel, the netlink socket gets the kernel and the dma-buf table, TCP a network namespace.
:class:`HostLike` is what an emulated host and ``LinuxHost`` share.
"""

from __future__ import annotations

import errno
import socket as _socket
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .errors import DevmemError
from .kernel.dmabuf import Accelerator, DmaBufTable
from .kernel.netns import NetNamespace
from .kernel.nic.device import NetDevice
from .kernel.state import Kernel, KernelVersion

if TYPE_CHECKING:
    from .lab import Lab

__all__ = ["Host", "HostLike"]


@runtime_checkable
class HostLike(Protocol):
    """The calls a cell makes that run unchanged on an emulated :class:`Host` and on a
    :class:`~devmem_lab.linux_host.LinuxHost` (contract section 4). ``emulated`` tells
    them apart where only the emulator can answer (its kernel state, its clock)."""

    emulated: bool
    ifname: str

    def if_nametoindex(self, name: str) -> int: ...

    def ethtool(self, cmdline: str) -> str: ...

    def netlink(self): ...

    def socket(self, family: int = ..., type: int = ..., proto: int = ...): ...


class Host:
    """An emulated Linux host with ``lo`` (ifindex 1) and a devmem-capable NIC ``eth1``."""

    emulated = True

    def __init__(self, lab: Lab, name: str, version: KernelVersion, *, address: str,
                 address4: str, mac: str, combined: int = 16, mtu: int = 1500,
                 netmem_tx: bool = True) -> None:
        self.lab = lab
        self.name = name
        self.kernel = Kernel(version)
        self.address = address
        self.address4 = address4
        self.ifname = "eth1"
        lo = NetDevice(self.kernel, "lo", 1, kind="loopback", mtu=65536)
        nic = NetDevice(self.kernel, "eth1", 2, combined=combined, mtu=mtu, mac=mac,
                        netmem_tx=netmem_tx)
        self.kernel.devices = {1: lo, 2: nic}
        self.nic = nic
        self.dmabufs = DmaBufTable()
        self.accel = Accelerator(self.dmabufs)
        self.netns = NetNamespace(name, self.kernel, nic, address, address4, lab)
        self.sysctl = self.netns.sysctl  # socket-buffer sysctls (kernel/sockopts.py)
        self.sockets = self.netns.sockets  # every TCP/UDP socket object made on this host
        self.ports = self.netns.ports  # bound port -> socket

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.ifname}={self.address})"

    # ---- names --------------------------------------------------------------------------
    def if_nametoindex(self, name: str) -> int:
        """``if_nametoindex(3)``: OSError(ENODEV) for an unknown name, as Python's does."""
        if not isinstance(name, str):
            raise TypeError(f"if_nametoindex() argument must be str, not {type(name).__name__}")
        dev = self.kernel.device_by_name(name)
        if dev is None:
            raise DevmemError(errno.ENODEV, "no interface with this name")
        return dev.ifindex

    def if_indextoname(self, ifindex: int) -> str:
        dev = self.kernel.device(ifindex)
        if dev is None:
            raise DevmemError(errno.ENXIO, "no interface with this index")
        return dev.name

    # ---- dma-bufs -------------------------------------------------------------------------
    def udmabuf_create(self, size: int) -> int:
        """A udmabuf dma-buf fd over a sealed memfd (``/dev/udmabuf`` ``UDMABUF_CREATE``)."""
        return self.dmabufs.udmabuf_create(size)

    # ---- tools ----------------------------------------------------------------------------
    def ethtool(self, cmdline: str) -> str:
        """Run an ethtool command line against this host's devices; returns what it prints."""
        from .ethtool import run
        return run(self.kernel, cmdline)

    def netlink(self):
        """A generic-netlink socket (``socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)``)."""
        from .kernel.af_netlink import NetlinkSocket
        return NetlinkSocket(self.kernel, self.dmabufs)

    def socket(self, family: int = _socket.AF_INET, type: int = _socket.SOCK_STREAM,
               proto: int = 0):
        """A socket mirroring ``socket.socket(family, type, proto)``."""
        from .kernel.tcp import make_socket
        return make_socket(self.netns, family, type, proto)
