"""Ready-made devmem servers for the later lessons: what notebooks 01 and 02 do by hand.

Emulator only (course tooling). :func:`devmem_server` runs ncdevmem's server setup
(:func:`devmem_lab.scenario.ncdevmem_rx`) on an emulated host (``tools/testing/selftests/drivers/net/hw/ncdevmem.c``): header split on with
hds-thresh 0, ntuple on, RSS kept below the devmem queue, an ntuple rule steering the port
onto it, a dma-buf bound to it with bind-rx (``net/core/netdev-genl.c``), and a listening
socket. :func:`ncdevmem_payload` is the byte pattern ``ncdevmem -v N`` validates.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import weakref
from dataclasses import dataclass, field
from typing import Any

from ..scenario import connect, ncdevmem_rx
from ..uapi import PAGE_SIZE

__all__ = ["DevmemServer", "devmem_server", "ncdevmem_payload"]


def ncdevmem_payload(n: int, v: int = 7, offset: int = 0) -> bytes:
    """Bytes ``[offset, offset+n)`` of the stream ``ncdevmem -v v`` expects.

    ncdevmem's ``validate_buffer`` starts an ``unsigned char seed`` at 1, expects ``seed``
    (or ``'\\n'`` when it is 0) and wraps it to 0 when it reaches ``v``: ``-v 7`` expects
    ``01 02 03 04 05 06 0a`` repeating.
    """
    if n <= 0:
        return b""
    period = bytes(((i + 1) % v) or 10 for i in range(v))
    start = offset % v
    reps = (start + n) // v + 1
    return (period * reps)[start:start + n]


@dataclass(eq=False)
class DevmemServer:
    """A server host with one rx queue bound to a dma-buf and a socket listening on ``port``.

    ``dmabuf`` is the CPU's view of a udmabuf (an ``mmap``), or ``None`` for accelerator
    memory (read it with ``host.accel.read(fd, offset, size)``).
    """

    lab: Any = field(repr=False)
    host: Any = field(repr=False)
    queue: int
    port: int
    niovs: int
    binding_id: int
    memory: str
    fd: int = field(repr=False, default=-1)
    dmabuf: mmap.mmap | None = field(repr=False, default=None)
    listener: Any = field(repr=False, default=None)
    netlink: Any = field(repr=False, default=None)

    @property
    def binding(self):
        """The kernel's binding object (``struct net_devmem_dmabuf_binding``)."""
        return self.host.kernel.bindings[self.binding_id]

    @property
    def rxq(self):
        """The bound rx queue (its ``.stats`` are the per-queue counters)."""
        return self.host.nic.rx_queues[self.queue]

    def read_dmabuf(self, offset: int, size: int) -> bytes:
        """Bytes of the dma-buf, through the mmap or the accelerator."""
        if self.dmabuf is not None:
            return bytes(self.dmabuf[offset:offset + size])
        return self.host.accel.read(self.fd, offset, size)

    def connect(self, payload: bytes = b"", *, close: bool = True):
        """A client connects, sends ``payload`` (and closes if ``close``); returns the
        server's accepted socket, with ``.client`` (the client's socket) and
        ``.devmem_server`` (this object, which keeps the binding alive) attached."""
        _ls, client, conn = connect(self.lab, self.listener, port=self.port)
        if payload:
            client.sendall(payload)
        if close:
            client.close()
        conn.client = client
        conn.devmem_server = self  # the binding lives as long as the netlink socket here
        return conn


def _release(nl, fd: int) -> None:
    """Close the netlink socket (unbinding) and the dma-buf fd; runs when the server object
    is collected, or at interpreter exit while modules can still be imported."""
    if nl is not None:
        nl.close()
    with contextlib.suppress(OSError):
        os.close(fd)


def devmem_server(lab, *, queue: int = 15, niovs: int = 64, port: int = 5201,
                  memory: str = "udmabuf", size_rcvbuf: bool = True) -> DevmemServer:
    """Set up ``lab.server`` as ncdevmem's server does and bind ``niovs`` pages to ``queue``.

    ``size_rcvbuf``: the listener's SO_RCVBUF is set so that ``sk_rcvbuf`` is the dma-buf's
    size. TCP charges a devmem frag its whole net_iov (a page), so the receive window then
    never promises more data than the net_iovs can hold; ncdevmem binds a dma-buf far larger
    than any window instead. ``False`` keeps the kernel's default (``tcp_rmem[1]``, grown by
    autotuning up to ``tcp_rmem[2]``): with a small dma-buf the out-of-order queue can then
    hold every net_iov, and the retransmission that would fill its hole has none to land in
    (docs/kernel-facts.md, "Receive memory and the window").

    The set-up is :func:`devmem_lab.scenario.ncdevmem_rx` up to the listening socket (bind-rx
    over netlink).
    """
    # the kernel doubles SO_RCVBUF: sk_rcvbuf = the dma-buf's size
    rcvbuf = niovs * PAGE_SIZE // 2 if size_rcvbuf else None
    sc = ncdevmem_rx(lab, queue=queue, pages=niovs, port=port, memory=memory, connect=False,
                     rcvbuf=rcvbuf)
    view = mmap.mmap(sc.fd, sc.size) if memory == "udmabuf" else None
    nl = sc.netdev.sock  # the netlink socket: the binding lives as long as it
    srv = DevmemServer(lab, sc.host, queue, port, niovs, sc.binding_id, memory, sc.fd, view,
                       sc.listener, nl)
    weakref.finalize(srv, _release, nl, sc.fd)
    return srv
