"""The rx ring as bnxt fills and refills it (``devmem_lab/kernel/nic/ring.py``).

``drivers/net/ethernet/broadcom/bnxt/bnxt.c``: the agg ring is ``rx ring x 4`` entries, filled
from the new page pool when the queue starts (``bnxt_alloc_one_rx_ring_netmem``, from
``netdev_rx_queue_restart``), each consumed entry refilled at once in the NAPI poll
(``__bnxt_rx_agg_netmems``); a failed refill drops the packet and reuses its buffers, counted
as ``rx_oom_discards`` = qstat rx-alloc-fail. Page-pool inflight (``page_pool_user.c``)
counts the posted buffers.
"""

import numpy as np
import pytest
from conftest import bind, connect, steer

from devmem_lab import Lab, uapi
from devmem_lab.kernel.nic import ring
from devmem_lab.ynl import Netdev

DEVMEM = uapi.MSG_SOCK_DEVMEM
MSS = 1428


def read_all(conn, n):
    got, tokens = 0, []
    while got < n:
        data, anc, _, _ = conn.recvmsg(1 << 20, 1 << 16, DEVMEM)
        got += len(data)
        tokens += [cm.frag_token for kind, cm in uapi.parse_cmsgs(anc) if kind == "dmabuf"]
    return tokens


def test_ring_sizes_follow_bnxt():
    assert ring.AGG_FACTOR == 4
    assert ring.agg_ring_size(511) == 2044  # BNXT_DEFAULT_RX_RING_SIZE
    assert ring.agg_ring_size(4096) == 32 * 256 - 1  # capped at MAX_RX_AGG_PAGES pages
    nic = Lab(seed=0).server.nic
    assert (nic.rx_ring, ring.fill_level(nic), ring.fill_level(nic, 16384)) == (2, 8, 2)


@pytest.mark.parametrize("kernel", ["6.18", "6.12"])
def test_bind_fills_the_ring_and_the_page_pool_reports_it(kernel):
    lab = Lab(seed=0, kernel=kernel)
    steer(lab.server)
    nic = lab.server.nic
    old = nic.rx_queues[15].pool
    assert (old.inflight, nic.rx_queues[15].posted_pages) == (8, 8)  # host pages posted
    b = bind(lab.server, lab.server.udmabuf_create(64 * 4096), [15])
    q = nic.rx_queues[15]
    assert q.posted.tolist() == list(range(8)) and q.posted_pages == 0
    assert (q.pool.inflight, q.pool.stats.alloc_fast, b.free_count) == (8, 8, 56)
    assert b.refs[:9].tolist() == [1] * 8 + [0]  # the page pool's reference
    assert old.id not in lab.server.kernel.page_pools  # its 8 host pages came back: gone
    dump = Netdev(lab.server.netlink()).page_pool_dump()
    assert (dump[0]["dmabuf"], dump[0]["inflight"], dump[0]["inflight-mem"]) == (b.id, 8, 32768)


def test_a_dma_buf_smaller_than_the_ring_is_posted_whole_and_receives_nothing():
    lab = Lab(seed=0)
    steer(lab.server)
    b = bind(lab.server, lab.server.udmabuf_create(4 * 4096), [15])
    q = lab.server.nic.rx_queues[15]
    assert (q.posted.tolist(), b.free_count) == ([0, 1, 2, 3], 0)
    _, cs, conn = connect(lab)
    cs.sendall(b"\1" * (3 * MSS))
    lab.run(0.0005)
    # every packet lands in a posted net_iov, its refill fails, the driver drops it and
    # puts the buffer back: nothing reaches the socket
    assert (conn.tokens_held, q.stats.packets) == (0, 0)
    assert q.stats.alloc_fail == q.stats.hw_drops > 0
    assert q.posted_pages == 0 and sorted(q.posted.tolist()) == [0, 1, 2, 3]
    assert q.pool.stats.alloc_empty == q.stats.alloc_fail


def test_each_frag_is_refilled_from_the_lowest_free_net_iov():
    lab = Lab(seed=0)
    steer(lab.server)
    b = bind(lab.server, lab.server.udmabuf_create(32 * 4096), [15])
    q = lab.server.nic.rx_queues[15]
    _, cs, conn = connect(lab)
    cs.sendall(b"\2" * (5 * MSS))
    tokens = read_all(conn, 5 * MSS)
    # the 5 packets used ring entries 0..4; the refills 8..12 were posted behind 5..7
    assert q.posted.tolist() == [5, 6, 7, 8, 9, 10, 11, 12]
    assert b.refs[:14].tolist() == [1] * 13 + [0]  # a token on 0..4, the pool on 5..12
    assert q.pool.inflight == 13 and q.stats.alloc_fail == 0
    conn.setsockopt(uapi.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, uapi.pack_tokens(tokens))
    assert (b.free_count, q.pool.inflight) == (32 - 8, 8)


def test_the_ring_never_runs_short_and_refills_after_tokens_return():
    lab = Lab(seed=0)
    steer(lab.server)
    b = bind(lab.server, lab.server.udmabuf_create(16 * 4096), [15])
    q = lab.server.nic.rx_queues[15]
    _, cs, conn = connect(lab)
    cs.sendall(b"\3" * (20 * MSS))
    lab.run(0.0001)  # one window: 8 fit (16 - 8 posted), 12 are dropped
    assert (q.stats.packets, q.stats.alloc_fail, q.stats.hw_drops) == (8, 12, 12)
    assert (b.free_count, len(q.posted)) == (0, 8)
    tokens = read_all(conn, 8 * MSS)
    conn.setsockopt(uapi.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, uapi.pack_tokens(tokens))
    assert (b.free_count, len(q.posted)) == (8, 8)
    tokens = read_all(conn, 8 * MSS)  # the retransmissions find refills again
    assert len(tokens) == 8 and len(q.posted) == 8


def test_ethtool_rx_ring_resize_refills_every_ring():
    lab = Lab(seed=0)
    steer(lab.server)
    b = bind(lab.server, lab.server.udmabuf_create(4096 * 4096), [15])
    pool = lab.server.nic.rx_queues[15].pool
    lab.server.ethtool("-G eth1 rx 511")
    q = lab.server.nic.rx_queues[15]
    assert q.pool is pool and len(q.posted) == 2044 and pool.inflight == 2044
    assert np.array_equal(q.posted, np.arange(2044)) and b.free_count == 4096 - 2044
    assert {p.inflight for p in lab.server.kernel.page_pools.values()} == {2044}
    assert "RX:\t\t\t511" in lab.server.ethtool("-g eth1")


def test_unbind_returns_the_ring_to_the_genpool():
    lab = Lab(seed=0)
    steer(lab.server)
    nl = Netdev(lab.server.netlink())
    fd = lab.server.udmabuf_create(64 * 4096)
    bid = nl.bind_rx(lab.server.if_nametoindex("eth1"), fd, [14, 15])["id"]
    b = lab.server.kernel.bindings[bid]
    nic = lab.server.nic
    assert (nic.rx_queues[14].posted.tolist(), nic.rx_queues[15].posted.tolist()) == \
        (list(range(8)), list(range(8, 16)))
    nl.close()  # netdev_nl_sock_priv_destroy: unbind, each queue restarts on host pages
    assert (b.bound, b.free_count, b.refs.any()) == (False, 64, False)
    assert all(q.posted_pages == 8 and not len(q.posted) for q in nic.rx_queues[14:])
