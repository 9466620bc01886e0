"""Devmem TX (Linux 6.16+): a dma-buf bound for transmit, and skb frags that point into it.

Models ``net/core/devmem.c`` (``net_devmem_bind_dmabuf`` with ``DMA_TO_DEVICE``: the same
binding struct and id space as RX, plus ``tx_vec``, the net_iovs indexed by offset /
PAGE_SIZE; ``net_devmem_get_binding``: the id must name a TX binding, the socket's route must
go through the binding's device; ``net_devmem_get_niov_at``) and ``net/core/datagram.c``
(``zerocopy_fill_skb_from_devmem``: each iovec base is a byte offset into the dma-buf, a frag
is at most the rest of its net_iov page, at most ``MAX_SKB_FRAGS`` frags per skb, an offset at
or past the end of the dma-buf is EFAULT).

The send queue holds :class:`TxRegion` pieces, not bytes: the NIC reads the dma-buf when a
segment is put on the wire (first transmission and every retransmission), so a region changed
before its completion arrives sends the new bytes. See docs/kernel-facts.md, "TX (6.16+)".
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..errors import DevmemError
from ..uapi import PAGE_SIZE
from .devmem import Binding, bind_dmabuf

if TYPE_CHECKING:
    from .dmabuf import DmaBuf
    from .nic.device import NetDevice, QueueStats

__all__ = ["MAX_SKB_FRAGS", "TxRegion", "bind_tx", "fill_from_devmem", "get_binding",
           "is_tx", "size_goal"]

MAX_SKB_FRAGS = 17  # include/linux/skbuff.h (CONFIG_MAX_SKB_FRAGS default)
MAX_TCP_HEADER = 320  # L1_CACHE_ALIGN(128 + MAX_HEADER) on x86_64, as tcp_xmit_size_goal sees it
GSO_MAX_SIZE = 65536  # GSO_LEGACY_MAX_SIZE: sk_gso_max_size of a TSO NIC


def bind_tx(dev: NetDevice, dmabuf: DmaBuf) -> Binding:
    """``net_devmem_bind_dmabuf(dev, DMA_TO_DEVICE, fd)``: a binding id from the shared cyclic
    id space and a ``tx_vec`` over the whole dma-buf (no queues, no page pool)."""
    binding = bind_dmabuf(dev, dmabuf)
    binding.tx_vec = True  # net_iov lookup by offset: Binding.virtual_addr / niov_size
    return binding


def is_tx(binding: object) -> bool:
    """A binding made by bind-tx (``binding->tx_vec != NULL``)."""
    return getattr(binding, "tx_vec", False)


def get_binding(kernel, route_dev: NetDevice | None, dmabuf_id: int) -> Binding:
    """``net_devmem_get_binding``: the TX binding ``dmabuf_id`` for a socket routed through
    ``route_dev``.

    Raises
    ------
    DevmemError
        EINVAL: no binding has this id (never made, or its netlink socket was closed), or it
        is an RX binding. ENODEV: the socket's route goes through another device (or it has
        no route: an unconnected socket, whose route rebuild finds none; unverified).
    """
    binding = kernel.bindings.get(dmabuf_id)
    if binding is None or not is_tx(binding):
        raise DevmemError(errno.EINVAL)
    if route_dev is None or route_dev is not binding.dev:
        raise DevmemError(errno.ENODEV)
    return binding


def size_goal(mss: int) -> int:
    """``tcp_xmit_size_goal`` on a TSO device: the most whole segments in one GSO skb."""
    return max(1, (GSO_MAX_SIZE - 1 - MAX_TCP_HEADER) // mss) * mss


def fill_from_devmem(binding: Binding, iovs: list[tuple[int, int]], goal: int):
    """Cut ``iovs`` (offset, length) into skbs as ``tcp_sendmsg_locked`` with
    ``skb_zerocopy_iter_stream`` / ``zerocopy_fill_skb_from_devmem`` does.

    Each skb holds at most ``goal`` bytes and ``MAX_SKB_FRAGS`` frags, a frag at most the rest
    of its net_iov page. Returns ``(pieces, err)``: the ``(offset, length)`` pieces of the
    skbs filled completely, and ``errno.EFAULT`` if an iovec reached the end of the dma-buf
    (the skb being filled then is trimmed back, so its bytes are not queued) or 0.
    """
    size = binding.dmabuf.size
    done: list[tuple[int, int]] = []
    skb: list[tuple[int, int]] = []
    skb_len = 0
    for off, length in iovs:
        while length:
            if len(skb) == MAX_SKB_FRAGS or skb_len == goal:  # EMSGSIZE / full: new segment
                done += skb
                skb, skb_len = [], 0
            if off >= size:  # net_devmem_get_niov_at returns NULL
                return _merge(done), errno.EFAULT
            n = min(PAGE_SIZE - off % PAGE_SIZE, length, goal - skb_len)
            skb.append((off, n))
            skb_len += n
            off += n
            length -= n
    return _merge(done + skb), 0


def _merge(pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Adjacent frags as one region (fewer send-queue entries; same bytes, same order)."""
    out: list[list[int]] = []
    for off, n in pieces:
        if out and out[-1][0] + out[-1][1] == off:
            out[-1][1] += n
        else:
            out.append([off, n])
    return [(a, b) for a, b in out]


class TxRegion:
    """A piece of the send queue that lives in memory the NIC reads at transmit time: a dma-buf
    region (devmem TX) or a user buffer pinned by MSG_ZEROCOPY.

    Slicing it (``region[a:b]``) is the NIC's DMA read: the bytes as they are *now*, counted
    in the tx queue's ``devmem_bytes`` when ``stats`` is given.
    """

    __slots__ = ("binding", "mem", "nbytes", "offset", "stats")

    def __init__(self, mem: memoryview, stats: QueueStats | None = None,
                 binding: Binding | None = None, offset: int = 0) -> None:
        self.mem = mem
        self.nbytes = mem.nbytes
        self.stats = stats
        self.binding = binding  # the TX binding whose dma-buf `mem` is in (devmem TX)
        self.offset = offset  # byte offset of `mem` in that dma-buf

    def niovs(self, skip: int = 0) -> range:
        """The net_iovs (``tx_vec`` indices) the region's bytes from ``skip`` on lie in."""
        if self.binding is None or skip >= self.nbytes:
            return range(0)
        size = self.binding.niov_size
        return range((self.offset + skip) // size, -(-(self.offset + self.nbytes) // size))

    def __repr__(self) -> str:
        return f"TxRegion({self.nbytes} bytes{', devmem' if self.stats is not None else ''})"

    def __getitem__(self, sl: slice) -> bytes:
        data = bytes(self.mem[sl])
        if self.stats is not None:
            self.stats.devmem_bytes += len(data)
        return data
