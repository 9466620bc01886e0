"""What a socket sees of its network namespace, and of the link and clock under it.

Models the part of ``struct net`` (``include/net/net_namespace.h``) a TCP socket uses: the
device, this host's addresses, the bound ports (``inet_hashinfo``) and the socket list. The
link (serialisation, propagation, the event queue of the virtual clock) is not kernel state:
:class:`Link` is the interface ``devmem_lab.lab.Lab`` implements, so TCP can run against a
fake link in a unit test.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .sockopts import SYSCTL

if TYPE_CHECKING:
    from .nic.device import NetDevice
    from .state import Kernel

__all__ = ["Link", "NetNamespace"]


class Link(Protocol):
    """The link between the namespaces and the virtual clock that moves it (``Lab``)."""

    now_ns: int
    delay_ns: int  # one-way propagation delay
    wakeup_ns: int  # how long after data arrives a blocked reader runs
    rng: random.Random

    def schedule(self, delay_ns: int, fn: Callable[[], None]) -> None: ...

    def schedule_at(self, t_ns: int, fn: Callable[[], None]) -> None: ...

    def wire(self, src: NetNamespace, frame_bytes: int) -> int: ...

    def wire_run(self, src: NetNamespace, frame_bytes: int, count: int,
                 last_bytes: int) -> int: ...

    def run(self, seconds: float) -> None: ...

    def run_until(self, predicate: Callable[[], bool],
                  deadline_ns: int | None = None) -> bool: ...

    def netns_by_address(self, address: str) -> NetNamespace | None: ...


@dataclass(eq=False)
class NetNamespace:
    """One host's network namespace: its kernel, NIC, addresses, ports and sockets."""

    name: str
    kernel: Kernel
    nic: NetDevice
    address: str  # IPv6
    address4: str
    link: Link = field(repr=False)
    ports: dict[int, object] = field(default_factory=dict, repr=False)  # port -> socket
    sockets: list = field(default_factory=list, repr=False)  # every socket made here
    # net.core / net.ipv4 sysctls (sockopts.SYSCTL: this machine's 6.18 values): the buffer
    # clamps, tcp_rmem (a new socket's sk_rcvbuf, autotuning's cap), tcp_moderate_rcvbuf;
    # host.sysctl is this dict, so a lab user may set them
    sysctl: dict = field(default_factory=lambda: dict(SYSCTL), repr=False)
