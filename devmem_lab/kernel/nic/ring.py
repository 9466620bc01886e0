"""The rx aggregation ring: buffers the driver posts from its page pool for the NIC to fill.

Follows bnxt (``drivers/net/ethernet/broadcom/bnxt/bnxt.c``), the driver of the kernel's devmem
selftests; see docs/kernel-facts.md, "Rx ring fill and refill (bnxt)":

- ring size: ``bnxt_set_ring_params``: with header split (or hardware GRO) the payload goes to
  the aggregation ring of ``rx_ring * agg_factor`` entries, ``agg_factor = min(4, 65536 /
  BNXT_RX_PAGE_SIZE)`` = 4 with 4 KiB pages (at most ``MAX_RX_AGG_PAGES * RX_DESC_CNT - 1``);
  larger net_iovs fill proportionally fewer entries (``bnxt_rx_agg_ring_fill_level``);
- fill at queue start (``bnxt_alloc_one_rx_ring_netmem``, from ``netdev_rx_queue_restart`` via
  ``ndo_queue_mem_alloc``): one ``bnxt_alloc_rx_netmem`` per entry; when the page pool runs
  dry the ring is left partly filled ("init'ed rx ring %d with %d/%d pages only");
- refill per received frag (``__bnxt_rx_agg_netmems`` in the NAPI poll): each consumed entry
  is replaced at once; when that allocation fails the packet is dropped (``rx_oom_discards``,
  the qstat ``rx-alloc-fail``) and its buffers are put back on the ring
  (``bnxt_reuse_rx_agg_bufs``), so the ring never runs short: the net_iovs posted stay posted.

The ring is a FIFO of net_iov indices (``RxQueue.posted``) or, on a queue without a memory
provider, a count of host pages (``RxQueue.posted_pages``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...uapi import PAGE_SIZE

if TYPE_CHECKING:
    from .device import NetDevice, RxQueue

__all__ = ["AGG_FACTOR", "MAX_AGG_RING", "agg_ring_size", "fill", "fill_level", "release",
           "take"]

BNXT_RX_PAGE_SIZE = PAGE_SIZE
AGG_FACTOR = min(4, 65536 // BNXT_RX_PAGE_SIZE)
RX_DESC_CNT = 4096 // 16  # BNXT_PAGE_SIZE / sizeof(struct rx_bd)
MAX_AGG_RING = 32 * RX_DESC_CNT - 1  # MAX_RX_AGG_PAGES * RX_DESC_CNT - 1
EMPTY = np.empty(0, dtype=np.int64)


def agg_ring_size(rx_ring: int) -> int:
    """``bp->rx_agg_ring_size`` for an rx ring of ``rx_ring`` entries."""
    return min(rx_ring * AGG_FACTOR, MAX_AGG_RING)


def fill_level(dev: NetDevice, niov_size: int = PAGE_SIZE) -> int:
    """Entries the driver fills (``bnxt_rx_agg_ring_fill_level``)."""
    level = agg_ring_size(dev.rx_ring)
    if niov_size > BNXT_RX_PAGE_SIZE:
        level //= niov_size // BNXT_RX_PAGE_SIZE
    return level


def fill(dev: NetDevice, rxq: RxQueue) -> None:
    """Post a new ring from the queue's (new) page pool: the lowest free net_iovs of the
    provider, fewer if its genpool runs out; host pages never run out."""
    pool = rxq.pool
    if pool is None:
        return
    if rxq.binding is not None:
        rxq.posted = pool.alloc_niovs(fill_level(dev, rxq.binding.niov_size))
        rxq.posted_pages = 0
    else:
        rxq.posted = EMPTY
        rxq.posted_pages = fill_level(dev)
        pool.alloc_pages(rxq.posted_pages)


def release(pool, posted: np.ndarray, pages: int) -> None:
    """``ndo_queue_mem_free``: an old ring's buffers go back to ``pool`` (net_iovs to its
    provider's genpool), after the new ring was filled (``netdev_rx_queue_restart``)."""
    if len(posted) and pool is not None and pool.provider is not None:
        pool.provider.put_many(np.sort(posted), distinct=True)
    if pages and pool is not None:
        pool.release(pages)


def take(rxq: RxQueue, pool, k: int, n: int) -> tuple[np.ndarray, int]:
    """``n`` packets of ``k`` frags each arrive: the frags land in the posted entries in ring
    order and each is refilled from the pool at once (``__bnxt_rx_agg_netmems``).

    Returns ``(niovs, delivered)``: the net_iovs of the first ``delivered`` packets
    (``delivered * k`` of them, in order). Packets after the first failed refill are dropped
    with their buffers reused. ``k`` must be 1 when ``n > 1``; a packet needing more entries
    than are posted is not placed at all (``delivered`` 0, nothing changes).
    """
    ring = rxq.posted
    size = len(ring)
    need = k * n
    if not size or k > size:
        return EMPTY, 0
    got = pool.alloc_niovs(need)
    if len(got) == need:
        seq = np.concatenate((ring, got))
        rxq.posted = seq[need:]
        return seq[:need], n
    if n == 1:  # a refill failed mid-packet: the skb (with its first frags) is freed,
        j = len(got)  # the new buffers and then the unreplaced old ones are posted
        rxq.posted = np.concatenate((ring[k:], got, ring[j:k]))
        if j:
            rxq.binding.put_many(np.sort(ring[:j]), distinct=True)
        return EMPTY, 0
    fit = len(got)  # k == 1: one refill per packet; the rest reuse their buffer
    seq = np.concatenate((ring, got))
    rest = seq[fit:]
    rxq.posted = np.roll(rest, -((n - fit) % size))
    return seq[:fit], fit
