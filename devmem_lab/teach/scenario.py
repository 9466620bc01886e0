"""Ready-made devmem servers for the later lessons: what notebooks 01 and 02 do by hand.

Emulator only (course tooling). :func:`devmem_server` runs ncdevmem's server setup on an
emulated host (``tools/testing/selftests/drivers/net/hw/ncdevmem.c``): header split on with
hds-thresh 0, ntuple on, RSS kept below the devmem queue, an ntuple rule steering the port
onto it, a dma-buf bound to it with bind-rx (``net/core/netdev-genl.c``), and a listening
socket. :func:`ncdevmem_payload` is the byte pattern ``ncdevmem -v N`` validates.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import socket
import weakref
from dataclasses import dataclass, field
from typing import Any

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
        client = self.lab.client.socket(socket.AF_INET6, socket.SOCK_STREAM)
        client.connect((self.host.address, self.port))
        conn, _addr = self.listener.accept()
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

    Binding goes through the netdev netlink family (``devmem_lab.ynl``) when the package has
    it, else straight through ``devmem_lab.kernel.devmem`` (the same kernel code path).
    """
    host = lab.server
    ifname = host.ifname
    # 6.12 has no hds-thresh ring attribute (ethtool gets "Unknown attribute type")
    rings = "tcp-data-split on" + ("" if lab.kernel == "6.12" else " hds-thresh 0")
    for cmd in (f"-G {ifname} {rings}", f"-K {ifname} ntuple on",
                f"-X {ifname} equal {queue}",
                (f"-N {ifname} flow-type tcp6 dst-ip {host.address} dst-port {port} "
                f"action {queue}")):
        host.ethtool(cmd)
    size = niovs * PAGE_SIZE
    fd = host.udmabuf_create(size) if memory == "udmabuf" else host.accel.alloc(size)
    view = mmap.mmap(fd, size) if memory == "udmabuf" else None
    nl = None
    try:
        from ..ynl import Netdev
        nl = host.netlink()
        binding_id = Netdev(nl).bind_rx(host.if_nametoindex(ifname), fd, [queue])["id"]
    except ImportError:
        from ..kernel.devmem import bind_dmabuf, open_rxq
        binding = bind_dmabuf(host.nic, host.dmabufs.get(fd))
        open_rxq(host.nic, queue, binding)
        binding_id = binding.id
    listener = host.socket(socket.AF_INET6, socket.SOCK_STREAM)
    if size_rcvbuf:  # the kernel doubles it: sk_rcvbuf = the dma-buf's size
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size // 2)
    listener.bind(("::", port))
    listener.listen()
    srv = DevmemServer(lab, host, queue, port, niovs, binding_id, memory, fd, view, listener, nl)
    weakref.finalize(srv, _release, nl, fd)
    return srv
