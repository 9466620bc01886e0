"""The ncdevmem set-up, once: steer a flow, bind a dma-buf, connect a TCP pair.

Emulator only. Follows the server and client of ncdevmem
(``tools/testing/selftests/drivers/net/hw/ncdevmem.c``): header split on with hds-thresh 0
(``ethtool -G``; 6.12 has no hds-thresh attribute), ntuple filters on (``-K``), RSS kept on
the queues below the devmem queue (``-X equal N``), one ntuple rule steering the port onto it
(``-N ... action N``); a udmabuf (or accelerator memory) bound to that queue with bind-rx
(``net/core/netdev-genl.c``: ``netdev_nl_bind_rx_doit``) or the client's NIC bound with
bind-tx (``netdev_nl_bind_tx_doit``, 6.16+); then listen, connect, accept.

:func:`ncdevmem_rx` and :func:`ncdevmem_tx` run that sequence, always in the same order, and
return an :class:`RxScenario` / :class:`TxScenario` that releases everything on
:meth:`~RxScenario.close` (or as a context manager). :func:`steer`, :func:`bind_rx` and
:func:`connect` are the steps on their own.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from . import uapi
from .uapi import PAGE_SIZE

__all__ = ["PORT", "QUEUE", "RxScenario", "TxScenario", "bind_rx", "connect", "listen",
           "ncdevmem_rx", "ncdevmem_tx", "steer", "steer_commands"]

QUEUE = 15  # ncdevmem binds the last of the NIC's 16 combined queues
PORT = 5201


def _any_address(family: int) -> str:
    return "::" if family == socket.AF_INET6 else "0.0.0.0"


def _address(host, family: int) -> str:
    return host.address if family == socket.AF_INET6 else host.address4


def steer_commands(host, *, queue: int = QUEUE, port: int = PORT,
                   family: int = socket.AF_INET6) -> list[str]:
    """The four ethtool command lines (without ``ethtool``) that steer ``port`` to ``queue``."""
    ifname = host.ifname
    # 6.12 has no hds-thresh ring attribute (ethtool gets "Unknown attribute type")
    split = "tcp-data-split on" + ("" if host.kernel.version.name == "6.12" else " hds-thresh 0")
    flow = "tcp6" if family == socket.AF_INET6 else "tcp4"
    return [f"-G {ifname} {split}", f"-K {ifname} ntuple on", f"-X {ifname} equal {queue}",
            (f"-N {ifname} flow-type {flow} dst-ip {_address(host, family)} dst-port {port} "
             f"action {queue}")]


def steer(host, *, queue: int = QUEUE, port: int = PORT,
          family: int = socket.AF_INET6) -> list[str]:
    """Run :func:`steer_commands` on ``host``; returns what each command printed."""
    return [host.ethtool(cmd) for cmd in steer_commands(host, queue=queue, port=port,
                                                        family=family)]


def bind_rx(host, fd: int, queues: list[int], *, netlink: bool = True):
    """Bind dma-buf ``fd`` to ``queues``: ``(binding, netdev)``.

    ``netlink=True``: bind-rx over a new netlink socket (``devmem_lab.ynl.Netdev``); the
    binding lives as long as that socket. ``netlink=False``: the same kernel calls directly
    (``net_devmem_bind_dmabuf`` then ``__net_mp_open_rxq`` per queue), ``netdev`` is ``None``
    and the binding lives until ``binding.unbind()``.
    """
    if netlink:
        from .ynl import Netdev
        netdev = Netdev(host.netlink())
        binding_id = netdev.bind_rx(host.if_nametoindex(host.ifname), fd, list(queues))["id"]
        return host.kernel.bindings[binding_id], netdev
    from .kernel.devmem import bind_dmabuf, open_rxq
    binding = bind_dmabuf(host.nic, host.dmabufs.get(fd))
    for q in queues:
        open_rxq(host.nic, q, binding)
    return binding, None


def listen(host, *, port: int = PORT, family: int = socket.AF_INET6,
           rcvbuf: int | None = None):
    """A TCP socket listening on ``port``; ``rcvbuf`` (SO_RCVBUF) is inherited on accept."""
    ls = host.socket(family, socket.SOCK_STREAM)
    if rcvbuf is not None:
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    ls.bind((_any_address(family), port))
    ls.listen()
    return ls


_listen = listen  # ncdevmem_rx's ``listen`` argument hides the function


def connect(lab, listener=None, *, port: int = PORT, family: int = socket.AF_INET6,
            rcvbuf: int | None = None, zerocopy: bool = False):
    """``lab.client`` connects to ``lab.server``: ``(listener, client, conn)``.

    Makes the listener first when none is given; ``zerocopy`` sets SO_ZEROCOPY on the
    client's socket before it connects, as ncdevmem's TX client does.
    """
    if listener is None:
        listener = listen(lab.server, port=port, family=family, rcvbuf=rcvbuf)
    client = lab.client.socket(family, socket.SOCK_STREAM)
    if zerocopy:
        client.setsockopt(socket.SOL_SOCKET, uapi.SO_ZEROCOPY, 1)
    client.connect((_address(lab.server, family), port))
    conn, _addr = listener.accept()
    return listener, client, conn


class _Closing:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _close_all(*socks) -> None:
    for s in socks:
        if s is not None:
            s.close()


def _teardown(sc, view, binding=None) -> None:
    """A scenario's release, in ncdevmem's order: sockets, then the binding (closing the
    netlink socket unbinds; a binding made without one is unbound), the mapping, the fd."""
    _close_all(sc.conn, sc.client, sc.listener)
    if sc.netdev is not None:
        sc.netdev.close()
    elif binding is not None:
        binding.unbind()
    if view is not None:
        view.close()
    with contextlib.suppress(OSError):
        os.close(sc.fd)


@dataclass(eq=False)
class RxScenario(_Closing):
    """``host`` (the server) with ``queue`` bound to a dma-buf, ``peer`` (the client) and,
    when asked for, the TCP pair: ``client`` (the client's socket) and ``conn`` (accepted).

    ``binding`` is the kernel's ``struct net_devmem_dmabuf_binding``; ``netdev`` the netlink
    client that owns it (``None`` when bound without netlink).
    """

    lab: Any = field(repr=False)
    host: Any = field(repr=False)
    peer: Any = field(repr=False)
    queue: int
    port: int
    family: int
    pages: int
    memory: str
    fd: int = field(repr=False, default=-1)
    binding: Any = field(repr=False, default=None)
    netdev: Any = field(repr=False, default=None)
    listener: Any = field(repr=False, default=None)
    client: Any = field(repr=False, default=None)
    conn: Any = field(repr=False, default=None)
    closed: bool = field(repr=False, default=False)
    _view: Any = field(repr=False, default=None)

    @property
    def size(self) -> int:
        """Bytes of the dma-buf."""
        return self.pages * PAGE_SIZE

    @property
    def binding_id(self) -> int | None:
        return None if self.binding is None else self.binding.id

    @property
    def rxq(self):
        """The bound rx queue (its ``.pool`` and ``.stats``)."""
        return self.host.nic.rx_queues[self.queue]

    def read_dmabuf(self, offset: int, size: int) -> bytes:
        """Bytes of the dma-buf: through an mmap (udmabuf) or the accelerator."""
        if self.memory != "udmabuf":
            return self.host.accel.read(self.fd, offset, size)
        if self._view is None:
            self._view = mmap.mmap(self.fd, self.size)
        return bytes(self._view[offset:offset + size])

    def connect(self, *, rcvbuf: int | None = None):
        """One more client connection to the listener: ``(client, conn)``."""
        _ls, client, conn = connect(self.lab, self.listener, port=self.port,
                                    family=self.family, rcvbuf=rcvbuf)
        return client, conn

    def close(self) -> None:
        """Close the sockets, unbind (close the netlink socket) and close the dma-buf fd."""
        if self.closed:
            return
        self.closed = True
        _teardown(self, self._view, self.binding)


def ncdevmem_rx(lab, *, queue: int = QUEUE, pages: int = 256, port: int = PORT,
                family: int = socket.AF_INET6, memory: str = "udmabuf",
                netlink: bool = True, devmem: bool = True, listen: bool = True,
                connect: bool = True, rcvbuf: int | None = None) -> RxScenario:
    """ncdevmem's RX set-up on ``lab.server``, then a client connection from ``lab.client``.

    In this order: :func:`steer` (``queue``, ``port``, ``family``), a dma-buf of ``pages``
    pages (``memory``: ``"udmabuf"`` or ``"accel"``), :func:`bind_rx` of it to ``queue``
    (``netlink``), a listener (SO_RCVBUF ``rcvbuf`` when given), a client that connects and
    the accepted socket. ``devmem=False`` skips steering and binding (the plain TCP flow a
    copy baseline reads); ``listen=False`` stops after binding (no sockets),
    ``connect=False`` after listening.
    """
    if memory not in ("udmabuf", "accel"):
        raise ValueError(f"memory must be 'udmabuf' or 'accel', got {memory!r}")
    srv = lab.server
    sc = RxScenario(lab, srv, lab.client, queue, port, family, pages, memory)
    if devmem:
        steer(srv, queue=queue, port=port, family=family)
        size = pages * PAGE_SIZE
        sc.fd = srv.udmabuf_create(size) if memory == "udmabuf" else srv.accel.alloc(size)
        sc.binding, sc.netdev = bind_rx(srv, sc.fd, [queue], netlink=netlink)
    if listen:
        sc.listener = _listen(srv, port=port, family=family, rcvbuf=rcvbuf)
        if connect:
            sc.client, sc.conn = sc.connect()
    return sc


@dataclass(eq=False)
class TxScenario(_Closing):
    """``host`` (the client) with a dma-buf bound for TX on its NIC, and a TCP pair to
    ``peer`` (the server): ``client`` (SO_ZEROCOPY on) sends, ``conn`` receives.
    ``view`` is the CPU's mmap of the dma-buf (what the sender fills)."""

    lab: Any = field(repr=False)
    host: Any = field(repr=False)
    peer: Any = field(repr=False)
    port: int
    family: int
    size: int
    fd: int = field(repr=False, default=-1)
    view: Any = field(repr=False, default=None)
    netdev: Any = field(repr=False, default=None)
    tx_id: int = 0
    listener: Any = field(repr=False, default=None)
    client: Any = field(repr=False, default=None)
    conn: Any = field(repr=False, default=None)
    closed: bool = field(repr=False, default=False)

    @property
    def ancdata(self) -> list[tuple[int, int, bytes]]:
        """The sendmsg cmsg naming the binding: ``SCM_DEVMEM_DMABUF`` with its id."""
        return [(socket.SOL_SOCKET, uapi.SCM_DEVMEM_DMABUF, uapi.pack_tx_dmabuf_id(self.tx_id))]

    def close(self) -> None:
        """Close the sockets, unbind (close the netlink socket) and close the dma-buf fd."""
        if self.closed:
            return
        self.closed = True
        _teardown(self, self.view)


def ncdevmem_tx(lab, *, size: int = 64 * PAGE_SIZE, port: int = PORT,
                family: int = socket.AF_INET6, rcvbuf: int | None = None,
                fill=None) -> TxScenario:
    """ncdevmem's TX set-up on ``lab.client``, connected to ``lab.server``.

    In this order: a udmabuf of ``size`` bytes, mapped (``fill(view)`` writes its content),
    bind-tx over a new netlink socket, a listener on the server (SO_RCVBUF ``rcvbuf`` when
    given), the client's socket with SO_ZEROCOPY on, connect, accept.
    """
    from .ynl import Netdev
    cli = lab.client
    sc = TxScenario(lab, cli, lab.server, port, family, size)
    sc.fd = cli.udmabuf_create(size)
    sc.view = mmap.mmap(sc.fd, size)
    if fill is not None:
        fill(sc.view)
    sc.netdev = Netdev(cli.netlink())
    sc.tx_id = sc.netdev.bind_tx(cli.if_nametoindex(cli.ifname), sc.fd)["id"]
    sc.listener, sc.client, sc.conn = connect(lab, port=port, family=family, rcvbuf=rcvbuf,
                                              zerocopy=True)
    return sc
