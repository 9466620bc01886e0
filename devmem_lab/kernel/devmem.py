"""A dma-buf bound to rx queues: the binding, its net_iovs and their genpool.

Models ``net/core/devmem.c``: ``net_devmem_bind_dmabuf`` (binding id from a global cyclic
xarray, the dma-buf carved into PAGE_SIZE net_iovs, ``net_iov_virtual_addr`` = byte offset of the
net_iov in the dma-buf), ``net_devmem_alloc_dmabuf`` (``gen_pool_alloc``: first fit, lowest
free address) and ``net_devmem_unbind_dmabuf`` (queues lose their provider and restart).

A net_iov has a reference count: one for the page pool while it is posted to an rx ring and
then for the skb it lands in, one per token a socket holds (``tcp_recvmsg_dmabuf``). It returns
to the genpool when the last reference drops. While bound, ``free_count + posted_count +``
(net_iovs in skbs or held) ``== num_niovs``.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DevmemError
from ..uapi import PAGE_SIZE
from .dmabuf import DmaBuf

if TYPE_CHECKING:
    from .nic.device import NetDevice
    from .page_pool import PagePool

__all__ = ["Binding", "as_index", "bind_dmabuf", "close_rxq", "open_rxq"]


def as_index(idx: np.ndarray) -> slice | np.ndarray:
    """Ascending distinct indices as a slice when they are one run (cheaper to index with
    than the array), else the array itself."""
    first = int(idx[0])
    return slice(first, first + len(idx)) if int(idx[-1]) - first == len(idx) - 1 else idx


class Binding:
    """``struct net_devmem_dmabuf_binding``: one dma-buf bound to one device's rx queues.

    The genpool and the net_iov reference counts are numpy arrays, so a NAPI poll allocates
    and a token return frees many net_iovs in one step (the datapath works per burst).
    """

    def __init__(self, binding_id: int, dev: NetDevice, dmabuf: DmaBuf,
                 niov_size: int = PAGE_SIZE) -> None:
        self.id = binding_id
        self.dev = dev
        self.dmabuf = dmabuf
        self.niov_size = niov_size
        self.num_niovs = dmabuf.size // niov_size
        self._is_free = np.ones(self.num_niovs, dtype=bool)  # the genpool
        self._nfree = self.num_niovs
        self._lo = 0  # every net_iov below this one is in use (search hint)
        self._refs = np.zeros(self.num_niovs, dtype=np.int64)  # per net_iov reference count
        self._pool_of = np.full(self.num_niovs, -1, dtype=np.int64)  # index into _pools
        self._pools: list[PagePool] = []
        # the dma-buf as (num_niovs, niov_size) bytes: row i is net_iov i
        self.rows = dmabuf.view[: self.num_niovs * niov_size].reshape(self.num_niovs, niov_size)
        self.queues: list[int] = []
        self.bound = True  # False once unbound (netlink socket closed)

    def __repr__(self) -> str:
        return (f"Binding(id={self.id}, ifindex={self.dev.ifindex}, queues={self.queues}, "
                f"niovs={self.num_niovs}, free={self.free_count})")

    @property
    def free_count(self) -> int:
        return self._nfree

    @property
    def free_niovs(self) -> np.ndarray:
        """Indices of the net_iovs free in the genpool, ascending."""
        return np.flatnonzero(self._is_free)

    @property
    def refs(self) -> np.ndarray:
        """Reference count of every net_iov (0 = free in the genpool); a copy."""
        return self._refs.copy()

    def virtual_addr(self, niov: int) -> int:
        """``net_iov_virtual_addr``: the net_iov's byte offset from the start of the dma-buf."""
        return niov * self.niov_size

    def alloc_many(self, pool: PagePool, n: int) -> np.ndarray:
        """``net_devmem_alloc_dmabuf`` ``n`` times in a row (``gen_pool_alloc``: first fit,
        lowest free): the ``n`` lowest free net_iovs, fewer if the genpool has fewer, each
        with one reference held by ``pool``."""
        if not self.bound or not self._nfree or n <= 0:
            return np.empty(0, dtype=np.int64)
        lo, free = self._lo, self._is_free
        if np.count_nonzero(free[lo:lo + n]) == n:  # the next n are free
            idx = np.arange(lo, lo + n, dtype=np.int64)
        else:
            idx = free[lo:lo + max(4 * n, 256)].nonzero()[0][:n] + lo
        if len(idx) < n and len(idx) < self._nfree:
            idx = free[lo:].nonzero()[0][:n] + lo
        if not len(idx):
            return idx
        at = as_index(idx)
        free[at] = False
        self._refs[at] = 1
        self._pool_of[at] = self._pool_index(pool)
        self._nfree -= len(idx)
        self._lo = int(idx[-1]) + 1
        return idx

    def _pool_index(self, pool: PagePool) -> int:
        for i, p in enumerate(self._pools):
            if p is pool:
                return i
        self._pools.append(pool)
        return len(self._pools) - 1

    def get_many(self, idx: np.ndarray) -> None:
        """One more reference on each of ``idx`` (distinct net_iovs)."""
        self._refs[idx] += 1

    def put_many(self, idx: np.ndarray, distinct: bool = False) -> None:
        """Drop one reference per entry of ``idx`` (repeats allowed unless ``distinct``, and
        then ascending, as an skb's frags are); net_iovs whose last reference goes return to
        the genpool, and their page pools count them back."""
        if not len(idx):
            return
        refs = self._refs
        checked = not distinct  # an skb's own frags need no double-free check
        if not distinct and len(idx) > 1:
            idx = np.sort(idx)
            distinct = not (idx[1:] == idx[:-1]).any()
        if distinct:
            refs[as_index(idx)] -= 1
            touched = idx
        else:
            np.subtract.at(refs, idx, 1)
            touched = np.unique(idx)
        left = refs[touched]
        if checked and left.min() < 0:  # pragma: no cover - an emulator bug, not user input
            raise AssertionError(f"net_iov freed twice in binding {self.id}")
        gone = touched[left == 0]
        if not len(gone):
            return
        self._is_free[gone] = True
        self._nfree += len(gone)
        self._lo = min(self._lo, int(gone.min()))
        pools = self._pools
        if len(pools) == 1:
            pools[0].release(len(gone))
            return
        owners = self._pool_of[gone]
        for i, n in enumerate(np.bincount(owners, minlength=len(pools)).tolist()):
            if n:
                pools[i].release(n)

    @property
    def inflight(self) -> int:
        return self.num_niovs - self._nfree

    @property
    def posted_niovs(self) -> np.ndarray:
        """net_iovs posted to the rx rings of this binding's queues (not yet filled by the NIC),
        ascending; see ``nic/ring.py``."""
        rings = [q.posted for q in self.dev.rx_queues if q.binding is self and len(q.posted)]
        return np.sort(np.concatenate(rings)) if rings else np.empty(0, dtype=np.int64)

    @property
    def posted_count(self) -> int:
        return sum(len(q.posted) for q in self.dev.rx_queues if q.binding is self)

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
