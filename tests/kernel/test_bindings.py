"""Devmem bindings directly (``devmem_lab/kernel/devmem.py``, models ``net/core/devmem.c``).

One binding serving several page pools, the genpool's lowest-free search past its window,
``binding.queues`` after a queue closes or the binding goes, and the binding id returned to
the cyclic id space (``xa_alloc_cyclic``) on unbind.
"""

import errno

import numpy as np
import pytest
from conftest import bind, steer

from devmem_lab import Lab
from devmem_lab.kernel.devmem import as_index, close_rxq
from devmem_lab.kernel.state import CyclicIds


@pytest.fixture
def two_queues():
    """Queues 14 and 15 bound to one 4 MiB udmabuf (1024 net_iovs): two page pools."""
    lab = Lab(seed=0)
    steer(lab.server, queue=14)
    fd = lab.server.udmabuf_create(1024 * 4096)
    binding = bind(lab.server, fd, [14, 15])
    return lab, binding


def pools(lab):
    q = lab.server.nic.rx_queues
    return q[14].pool, q[15].pool


def test_one_binding_feeds_two_pools(two_queues):
    lab, b = two_queues
    p14, p15 = pools(lab)
    assert p14 is not p15 and p14.provider is b and p15.provider is b
    assert b.queues == [14, 15]
    # each queue start filled its ring (2 rx entries x agg factor 4 = 8) in bind order
    q = lab.server.nic.rx_queues
    assert q[14].posted.tolist() == list(range(8)) and q[15].posted.tolist() == list(range(8, 16))
    assert (b.posted_count, b.posted_niovs.tolist()) == (16, list(range(16)))
    a = p14.alloc_niovs(3)
    c = p15.alloc_niovs(2)
    assert a.tolist() == [16, 17, 18] and c.tolist() == [19, 20]
    assert (p14.inflight, p15.inflight, b.inflight, b.free_count) == (11, 10, 21, 1003)


def test_multi_pool_release_counts_back_to_each_pool(two_queues):
    lab, b = two_queues
    p14, p15 = pools(lab)
    a, c = p14.alloc_niovs(3), p15.alloc_niovs(4)  # 16..18 and 19..22 (0..15 are posted)
    b.get_many(np.array([17, 20]))  # two net_iovs also held by a token
    b.put_many(np.concatenate([c, a]))  # unsorted, across both pools
    assert (p14.inflight, p15.inflight) == (8 + 1, 8 + 1)
    assert (p14.stats.recycle_released_refcnt, p15.stats.recycle_released_refcnt) == (2, 3)
    assert b.refs[16:23].tolist() == [0, 1, 0, 0, 1, 0, 0]
    assert b.free_niovs[:6].tolist() == [16, 18, 19, 21, 22, 23]
    b.put_many(np.array([20, 17]))
    assert (p14.inflight, p15.inflight, b.free_count) == (8, 8, 1024 - 16)
    assert (p14.stats.recycle_released_refcnt, p15.stats.recycle_released_refcnt) == (3, 4)


def test_put_many_with_repeats_and_distinct(two_queues):
    lab, b = two_queues
    p14, _ = pools(lab)
    idx = p14.alloc_niovs(4)
    assert idx.tolist() == [16, 17, 18, 19]
    b.get_many(idx)  # refs 2 each
    b.put_many(np.array([18, 16, 18, 19]))  # 18 twice: it goes
    assert b.refs[16:20].tolist() == [1, 2, 0, 1]
    assert p14.inflight == 8 + 3
    b.put_many(np.array([16, 17, 19]), distinct=True)
    assert b.refs[16:20].tolist() == [0, 1, 0, 0]
    assert (p14.inflight, b.free_count) == (8 + 1, 1024 - 16 - 1)
    b.put_many(np.empty(0, dtype=np.int64))
    assert b.free_count == 1007


def test_lowest_free_beyond_the_search_window(two_queues):
    lab, b = two_queues
    p14, _ = pools(lab)
    assert len(p14.alloc_niovs(1024)) == 1024 - 16 and b.free_count == 0  # 16 posted
    assert len(p14.alloc_niovs(1)) == 0  # empty genpool
    b.put_many(np.array([20, 600, 601, 900]))
    assert p14.alloc_niovs(1).tolist() == [20]
    # the window after 21 holds no free net_iov: the whole genpool is searched
    assert p14.alloc_niovs(2).tolist() == [600, 601]
    assert p14.alloc_niovs(5).tolist() == [900]  # fewer than asked: the genpool ran out
    assert b.free_count == 0


def test_alloc_is_lowest_free_first_fit(two_queues):
    lab, b = two_queues
    p14, _ = pools(lab)
    p14.alloc_niovs(8)  # 16..23
    b.put_many(np.array([21, 18]))
    assert p14.alloc_niovs(3).tolist() == [18, 21, 24]
    assert p14.alloc_niovs(0).tolist() == []
    assert b.virtual_addr(3) == 3 * 4096


def test_queues_after_close_and_unbind(two_queues):
    lab, b = two_queues
    nic = lab.server.nic
    old14 = nic.rx_queues[14].pool
    close_rxq(nic, 14, b)
    assert b.queues == [15]
    assert nic.rx_queues[14].binding is None
    assert nic.rx_queues[14].pool is not old14 and nic.rx_queues[14].pool.provider is None
    # the old ring's 8 net_iovs went back; the new ring holds 8 host pages
    assert (old14.inflight, b.free_count, b.posted_count) == (0, 1024 - 8, 8)
    assert (len(nic.rx_queues[14].posted), nic.rx_queues[14].posted_pages) == (0, 8)
    close_rxq(nic, 14, b)  # closing again changes nothing
    assert b.queues == [15]
    kernel = lab.server.kernel
    assert kernel.bindings[b.id] is b
    b.unbind()
    assert (b.queues, b.bound) == ([], False)
    assert nic.rx_queues[15].binding is None and nic.rx_queues[15].pool.provider is None
    assert (b.free_count, b.posted_count) == (1024, 0)
    assert b.id not in kernel.bindings
    assert len(b.alloc_many(nic.rx_queues[15].pool, 4)) == 0
    b.unbind()  # idempotent
    assert b.bound is False


def test_unbind_frees_the_binding_id():
    lab = Lab(seed=0)
    steer(lab.server)
    kernel = lab.server.kernel
    kernel.binding_ids = CyclicIds(1, 2)  # a two-id space: reuse shows the id came back
    b1 = bind(lab.server, lab.server.udmabuf_create(16 * 4096), [15])
    b2 = bind(lab.server, lab.server.udmabuf_create(16 * 4096), [])
    assert (b1.id, b2.id) == (1, 2)
    b1.unbind()
    b3 = bind(lab.server, lab.server.udmabuf_create(16 * 4096), [15])
    assert b3.id == 1 and kernel.bindings == {1: b3, 2: b2}
    with pytest.raises(OSError) as e:  # xa_alloc_cyclic on a full space
        bind(lab.server, lab.server.udmabuf_create(16 * 4096), [])
    assert e.value.errno == errno.EBUSY


def test_as_index():
    assert as_index(np.array([3, 4, 5])) == slice(3, 6)
    idx = np.array([3, 5, 6])
    assert as_index(idx) is idx
    assert as_index(np.array([7])) == slice(7, 8)


def test_repr_and_counts(two_queues):
    _, b = two_queues
    assert repr(b) == f"Binding(id={b.id}, ifindex={b.dev.ifindex}, queues=[14, 15], " \
                      "niovs=1024, free=1008)"
    r = b.refs
    r[0] = 9
    assert b.refs[0] == 1  # a copy (net_iov 0 is posted: the page pool's reference)
    assert b.rows.shape == (1024, 4096)
