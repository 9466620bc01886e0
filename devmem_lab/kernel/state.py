"""Per-host kernel state that outlives any one device: version and global id allocators.

Models the global xarrays of ``net/core/devmem.c`` (``net_devmem_dmabuf_bindings``:
``XA_FLAGS_ALLOC1`` + ``xa_alloc_cyclic``) and ``net/core/page_pool_user.c`` (``page_pools``,
also cyclic from 1), and the NAPI id space of ``net/core/dev.c`` (ids start above NR_CPUS).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from ..errors import DevmemError
from .page_pool import PagePool

__all__ = ["KERNELS", "CyclicIds", "KernelVersion", "ListedPool"]


class CyclicIds:
    """``xa_alloc_cyclic`` over ``[first, limit]``: the lowest free id at or after the cursor
    (``id_alloc_next``), else the lowest free one from ``first``; the cursor moves to the id
    after the one handed out. Both users pass ``xa_limit_32b`` on an ``XA_FLAGS_ALLOC1``
    xarray: ids 1..U32_MAX. A full space is EBUSY (``lib/xarray.c``: ``__xa_alloc_cyclic``).
    """

    def __init__(self, first: int = 1, limit: int = 0xFFFFFFFF) -> None:
        self.first, self.limit = first, limit
        self._next = first
        self._used: set[int] = set()

    def alloc(self) -> int:
        i = self._next
        while i in self._used:
            i = i + 1 if i < self.limit else self.first
            if i == self._next:
                raise DevmemError(errno.EBUSY)
        self._used.add(i)
        self._next = i + 1 if i < self.limit else self.first
        return i

    def free(self, i: int) -> None:
        self._used.discard(i)


@dataclass(frozen=True)
class KernelVersion:
    """Which release's devmem behaviour to model (see docs/kernel-facts.md, "Release history")."""

    name: str
    hds_checks: bool  # bind-rx refuses queues without tcp-data-split / with hds-thresh
    queues_checked_upfront: bool  # out-of-range queue: EINVAL up front (else ERANGE per queue)
    duplicate_queues_merge: bool  # bitmap (else the second entry is EEXIST)
    dontneed_frag_cap: bool  # MAX_DONTNEED_FRAGS = 1024 per call
    rings_refusals: bool  # ethtool -G refuses hds changes while a provider is bound
    ops_lock_check: bool  # EOPNOTSUPP for drivers that are not ops-locked (lo)
    recvmsg_errors_exposed: bool = True  # tcp_recvmsg_dmabuf errors reach user space (else EFAULT)
    devmem_tx: bool = True  # bind-tx and the SCM_DEVMEM_DMABUF sendmsg cmsg (6.16+)
    # tcp_can_ingest admits a segment while rmem + its length <= sk_rcvbuf (else rmem <=)
    rmem_ingest_len: bool = True
    rcvbuf_grow: bool = True  # autotuning by tcp_rcvbuf_grow (6.16+; else tcp_rcv_space_adjust)
    hds_thresh_attr: bool = True  # ethtool rings carry hds-thresh (6.13+)
    napi_config: bool = True  # netdev napi replies carry the per-NAPI config (6.13+)

    def __repr__(self) -> str:
        return f"KernelVersion({self.name!r})"


KERNELS = {
    "6.12": KernelVersion("6.12", hds_checks=False, queues_checked_upfront=False,
                          duplicate_queues_merge=False, dontneed_frag_cap=False,
                          rings_refusals=False, ops_lock_check=False, devmem_tx=False,
                          recvmsg_errors_exposed=False, rmem_ingest_len=False,
                          rcvbuf_grow=False, hds_thresh_attr=False, napi_config=False),
    "6.18": KernelVersion("6.18", hds_checks=True, queues_checked_upfront=True,
                          duplicate_queues_merge=True, dontneed_frag_cap=True,
                          rings_refusals=True, ops_lock_check=True,
                          recvmsg_errors_exposed=True),  # 18282100d704 (v6.18-rc1)
}


@dataclass(eq=False)
class ListedPool(PagePool):
    """A page pool linked to its netdev (``page_pool_list``): what netlink sees of its life.

    ``page_pool_user.c`` notifies add when it is listed, change when ``page_pool_destroy``
    finds buffers still out (``page_pool_detached`` sets detach-time) and del when it is
    unlisted; ``user_detached`` records whether detach-time was ever set (not when the pool
    was empty at destroy: then it goes at once and its del carries none).
    """

    kernel: Kernel | None = field(default=None, repr=False)
    user_detached: bool = False

    def detach(self, now_s: int) -> None:
        busy = self.inflight > 0
        self.user_detached = busy
        super().detach(now_s)
        if busy and self.kernel is not None:
            self.kernel.pool_event(self, "change")


class Kernel:
    """One host's kernel: version, devices, page pools and devmem bindings."""

    NAPI_ID_BASE = 8193  # MIN_NAPI_ID = NR_CPUS + 1 with NR_CPUS = 8192

    def __init__(self, version: KernelVersion) -> None:
        self.version = version
        self.binding_ids = CyclicIds()
        self.pool_ids = CyclicIds()
        self.page_pools: dict[int, object] = {}
        self.bindings: dict[int, object] = {}
        self.devices: dict[int, object] = {}  # ifindex -> NetDevice
        self._napi_next = self.NAPI_ID_BASE
        self.now_s = 0  # wall-clock seconds of the virtual clock (page pool detach_time)
        self._genl = None

    @property
    def genl(self):
        """This kernel's generic netlink (:class:`~devmem_lab.kernel.netdev_genl.NetdevGenl`):
        families, port ids, napi config; made on first use."""
        if self._genl is None:
            from .netdev_genl import NetdevGenl
            self._genl = NetdevGenl(self)
        return self._genl

    def __repr__(self) -> str:
        return f"Kernel({self.version.name!r}, devices={sorted(self.devices)})"

    def new_napi_id(self) -> int:
        napi = self._napi_next
        self._napi_next += 1
        return napi

    def new_page_pool(self, ifindex: int, napi_id: int, queue: int, provider=None):
        pool = ListedPool(self.pool_ids.alloc(), ifindex, napi_id, queue, provider, kernel=self)
        pool.on_gone = self._drop_pool
        self.page_pools[pool.id] = pool
        self.pool_event(pool, "add")
        return pool

    def _drop_pool(self, pool) -> None:
        self.pool_event(pool, "del")
        self.page_pools.pop(pool.id, None)
        self.pool_ids.free(pool.id)

    def pool_event(self, pool, event: str) -> None:
        """Tell generic netlink (if any socket was ever made) of a page pool's add/change/del."""
        if self._genl is not None:
            self._genl.page_pool_event(pool, event)

    def device(self, ifindex: int):
        return self.devices.get(ifindex)

    def device_by_name(self, name: str):
        for dev in self.devices.values():
            if dev.name == name:
                return dev
        return None
