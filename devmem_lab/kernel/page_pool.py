"""Page pools: the per-rx-queue buffer allocator and its inflight accounting.

Models ``net/core/page_pool.c`` and ``net/core/page_pool_user.c``: each rx queue owns a pool
(global id, napi id, inflight count, alloc/recycle stats). A pool whose queue has a memory
provider hands out net_iovs of the bound dma-buf instead of host pages
(``mp_dmabuf_devmem_alloc_netmems`` in ``net/core/devmem.c``). A pool destroyed while buffers
are still in flight stays listed, with ``detach_time``, until the last one comes back.
``inflight`` (hold - release, ``page_pool_user.c``) counts the buffers the driver posted to its
rx ring too (``nic/ring.py``): right after a queue starts it is the ring's fill, not 0.

Differs from the kernel: no per-CPU cache or ptr_ring; a freed buffer returns straight to its
source (host allocator or the binding's genpool), so ``inflight`` is exact at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .devmem import Binding

__all__ = ["PagePool", "PagePoolStats"]


@dataclass
class PagePoolStats:
    """``struct page_pool_stats`` counters reported by PAGE_POOL_STATS_GET."""

    alloc_fast: int = 0
    alloc_slow: int = 0
    alloc_slow_high_order: int = 0
    alloc_empty: int = 0
    alloc_refill: int = 0
    alloc_waive: int = 0
    recycle_cached: int = 0
    recycle_cache_full: int = 0
    recycle_ring: int = 0
    recycle_ring_full: int = 0
    recycle_released_refcnt: int = 0


@dataclass(eq=False)
class PagePool:
    """One page pool: ``id``, owner ``ifindex``/``napi_id``/``queue`` and ``inflight`` buffers."""

    id: int
    ifindex: int
    napi_id: int
    queue: int
    provider: Binding | None = None
    inflight: int = 0
    detach_time: int | None = None  # seconds (virtual clock) when the driver destroyed it
    stats: PagePoolStats = field(default_factory=PagePoolStats)
    on_gone: Callable[[PagePool], None] | None = field(default=None, repr=False)

    @property
    def dmabuf_id(self) -> int | None:
        return self.provider.id if self.provider is not None else None

    def alloc_niov(self) -> int | None:
        """One net_iov index from the provider's genpool, or ``None`` when it is empty."""
        idx = self.alloc_niovs(1)
        if not len(idx):
            self.count_empty()
            return None
        return int(idx[0])

    def alloc_niovs(self, n: int):
        """Up to ``n`` net_iovs at once (a refill of the pool's cache): the ``n`` lowest free
        indices as a numpy array; fewer only if the genpool runs out."""
        idx = self.provider.alloc_many(self, n)
        self.stats.alloc_fast += len(idx)
        self.inflight += len(idx)
        return idx

    def count_empty(self, n: int = 1) -> None:
        """``n`` allocations found the provider empty (the slow path, then nothing)."""
        self.stats.alloc_empty += n
        self.stats.alloc_slow += n

    def alloc_pages(self, n: int) -> None:
        """``n`` host pages (host memory never runs out in the emulator)."""
        self.stats.alloc_fast += n
        self.inflight += n

    def release(self, n: int = 1) -> None:
        """``n`` buffers came back (last reference dropped)."""
        self.inflight -= n
        self.stats.recycle_released_refcnt += n
        self._maybe_gone()

    def detach(self, now_s: int) -> None:
        """The driver destroyed the pool (queue restart); it lingers while buffers are out."""
        self.detach_time = now_s
        self._maybe_gone()

    def _maybe_gone(self) -> None:
        if self.detach_time is not None and self.inflight == 0 and self.on_gone is not None:
            self.on_gone(self)
            self.on_gone = None
