"""A dma-buf bound to rx queues: the binding, its net_iovs and their genpool.

Models ``net/core/devmem.c``: ``net_devmem_bind_dmabuf`` (binding id from a global cyclic
xarray, the dma-buf carved into PAGE_SIZE net_iovs, ``net_iov_virtual_addr`` = byte offset of the
net_iov in the dma-buf), ``net_devmem_alloc_dmabuf`` (``gen_pool_alloc``: first fit, lowest
free address) and ``net_devmem_unbind_dmabuf`` (queues lose their provider and restart).

A net_iov has a reference count: one for the skb/page pool, one per token a socket holds
(``tcp_recvmsg_dmabuf``). It returns to the genpool when the last reference drops.
"""

from __future__ import annotations

import errno
import heapq
from typing import TYPE_CHECKING

import numpy as np

from .dmabuf import DmaBuf
from .errors import DevmemError
from .uapi import PAGE_SIZE

if TYPE_CHECKING:
    from .nic.device import NetDevice
    from .page_pool import PagePool

__all__ = ["Binding", "bind_dmabuf", "close_rxq", "open_rxq"]


class Binding:
    """``struct net_devmem_dmabuf_binding``: one dma-buf bound to one device's rx queues."""

    def __init__(self, binding_id: int, dev: NetDevice, dmabuf: DmaBuf,
                 niov_size: int = PAGE_SIZE) -> None:
        self.id = binding_id
        self.dev = dev
        self.dmabuf = dmabuf
        self.niov_size = niov_size
        self.num_niovs = dmabuf.size // niov_size
        self._free = list(range(self.num_niovs))  # a sorted list is a valid heap
        self._refs = [0] * self.num_niovs  # per net_iov reference count
        self._pool_of: list[PagePool | None] = [None] * self.num_niovs
        self.queues: list[int] = []
        self.bound = True  # False once unbound (netlink socket closed)

    def __repr__(self) -> str:
        return (f"Binding(id={self.id}, ifindex={self.dev.ifindex}, queues={self.queues}, "
                f"niovs={self.num_niovs}, free={self.free_count})")

    @property
    def free_count(self) -> int:
        return len(self._free)

    @property
    def refs(self) -> np.ndarray:
        """Reference count of every net_iov (0 = free in the genpool)."""
        return np.array(self._refs, dtype=np.int64)

    @property
    def rows(self) -> np.ndarray:
        """The dma-buf as ``(num_niovs, niov_size)`` bytes: row i is net_iov i."""
        return self.dmabuf.view[: self.num_niovs * self.niov_size].reshape(
            self.num_niovs, self.niov_size)

    def virtual_addr(self, niov: int) -> int:
        """``net_iov_virtual_addr``: the net_iov's byte offset from the start of the dma-buf."""
        return niov * self.niov_size

    def alloc(self, pool: PagePool) -> int | None:
        """``net_devmem_alloc_dmabuf``: the lowest free net_iov, or ``None`` if exhausted."""
        if not self._free or not self.bound:
            return None
        idx = heapq.heappop(self._free)
        self._refs[idx] = 1
        self._pool_of[idx] = pool
        return idx

    def get(self, idx: int) -> None:
        """Take one more reference (a token handed to user space)."""
        self._refs[idx] += 1

    def put(self, idx: int) -> None:
        """Drop one reference; the last one returns the net_iov to the genpool."""
        refs = self._refs
        refs[idx] -= 1
        if refs[idx] == 0:
            pool = self._pool_of[idx]
            self._pool_of[idx] = None
            heapq.heappush(self._free, idx)
            if pool is not None:
                pool.release()
        elif refs[idx] < 0:  # pragma: no cover - an emulator bug, never user input
            raise AssertionError(f"net_iov {idx} of binding {self.id} freed twice")

    @property
    def inflight(self) -> int:
        return self.num_niovs - len(self._free)

    # ---- lifetime ------------------------------------------------------------------------
    def unbind(self) -> None:
        """``net_devmem_unbind_dmabuf``: queues lose the provider and restart; id is freed.

        net_iovs still referenced (skbs in socket queues, tokens held by user space) stay
        valid until released; the genpool then drains back.
        """
        if not self.bound:
            return
        for idx in list(self.queues):
            close_rxq(self.dev, idx, self)
        self.bound = False
        kernel = self.dev.kernel
        kernel.bindings.pop(self.id, None)
        kernel.binding_ids.free(self.id)


def bind_dmabuf(dev: NetDevice, dmabuf: DmaBuf, niov_size: int = PAGE_SIZE) -> Binding:
    """``net_devmem_bind_dmabuf``: allocate the binding id and carve the dma-buf."""
    kernel = dev.kernel
    binding = Binding(kernel.binding_ids.alloc(), dev, dmabuf, niov_size)
    kernel.bindings[binding.id] = binding
    return binding


def open_rxq(dev: NetDevice, idx: int, binding: Binding) -> None:
    """Install ``binding`` as the memory provider of rx queue ``idx`` and restart it.

    Mirrors ``__net_mp_open_rxq`` (``net/core/netdev_rx_queue.c``, current) or
    ``net_devmem_bind_dmabuf_to_queue`` (6.12) check by check.

    Raises
    ------
    DevmemError
        EOPNOTSUPP (no queue management ops / not ops-locked), ERANGE (index out of range),
        EINVAL (tcp-data-split disabled, hds-thresh not zero; current kernels only), EEXIST
        (XDP attached, queue already bound), EBUSY (AF_XDP on the queue).
    """
    v = dev.kernel.version
    if v.ops_lock_check and not dev.ops_locked:
        raise DevmemError(errno.EOPNOTSUPP)
    if idx >= dev.real_num_rx_queues:
        raise DevmemError(errno.ERANGE, "rx queue index out of range")
    if v.hds_checks:
        if dev.tcp_data_split != "on":
            raise DevmemError(errno.EINVAL, "tcp-data-split is disabled")
        if dev.hds_thresh:
            raise DevmemError(errno.EINVAL, "hds-thresh is not zero")
    if dev.xdp_prog:
        msg = ("unable to custom memory provider to device with XDP program attached"
               if v.hds_checks else "unable to bind dmabuf to device with XDP program attached")
        raise DevmemError(errno.EEXIST, msg)
    rxq = dev.rx_queues[idx]
    if rxq.binding is not None:
        raise DevmemError(errno.EEXIST, "designated queue already memory provider bound")
    if rxq.xsk:
        raise DevmemError(errno.EBUSY, "designated queue already in use by AF_XDP")
    if not dev.queue_mgmt_ops:
        raise DevmemError(errno.EOPNOTSUPP)
    rxq.binding = binding
    dev.restart_queue(idx)
    binding.queues.append(idx)


def close_rxq(dev: NetDevice, idx: int, binding: Binding) -> None:
    """``__net_mp_close_rxq``: clear the provider and restart the queue on host pages."""
    if idx < dev.real_num_rx_queues and dev.rx_queues[idx].binding is binding:
        dev.rx_queues[idx].binding = None
        dev.restart_queue(idx)
    if idx in binding.queues:
        binding.queues.remove(idx)
