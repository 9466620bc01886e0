"""A bound queue whose pool runs dry: drops are counted, TCP resends, nothing is lost."""

import socket

from conftest import assert_all_back, bind, connect, steer, validation_pattern

from devmem_lab import Lab, uapi
from devmem_lab.uapi import parse_cmsgs

SOL, DONTNEED = socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED


def give_back(conn, tokens):
    for i in range(0, len(tokens), 128):  # at most 128 ranges per call
        assert conn.setsockopt(SOL, DONTNEED, uapi.pack_tokens(tokens[i:i + 128])) == \
            len(tokens[i:i + 128])


def slow_transfer(seed=0, pool_pages=64, total=1 << 20, hold=60, think_s=20e-6):
    """Read with MSG_SOCK_DEVMEM, keep up to ``hold`` tokens, 'process' for think_s per call.

    Like any correct devmem reader it gives every token back before it blocks: a reader that
    sleeps on tokens can starve the NIC of the very net_iov the next segment needs.
    """
    lab = Lab(seed=seed)
    steer(lab.server)
    fd = lab.server.udmabuf_create(pool_pages * 4096)
    binding = bind(lab.server, fd, [15])
    # a receive window smaller than the dma-buf: segments queued behind a lost one can
    # never take every net_iov (the kernel doubles SO_RCVBUF: 64 KiB, 45 segments)
    _, cs, conn = connect(lab, rcvbuf=32 << 10)
    payload = validation_pattern(total)
    cs.sendall(payload)
    cs.close()
    out, held = bytearray(), []
    while True:
        try:
            data, anc, _, _ = conn.recvmsg(65536, 80000,
                                           uapi.MSG_SOCK_DEVMEM | uapi.MSG_DONTWAIT)
        except BlockingIOError:
            give_back(conn, held)
            held = []
            data, anc, _, _ = conn.recvmsg(65536, 80000, uapi.MSG_SOCK_DEVMEM)
        if not data:
            break
        for _, cm in parse_cmsgs(anc):
            out += binding.dmabuf.read(cm.frag_offset, cm.frag_size)
            held.append(cm.frag_token)
        lab.run(think_s)  # the accelerator works on the data meanwhile
        if len(held) > hold:
            give_back(conn, held[:40])
            held = held[40:]
    give_back(conn, held)
    return lab, binding, cs, bytes(out), payload


def test_slow_reader_causes_drops_but_no_loss():
    lab, binding, cs, out, payload = slow_transfer()
    q = lab.server.nic.rx_queues[15]
    assert out == payload
    assert q.stats.alloc_fail > 0 and q.stats.hw_drops == q.stats.alloc_fail
    assert cs.retransmits > 0
    assert_all_back(binding)
    assert q.pool.inflight == 8  # the posted rx ring
    stats = lab.server.ethtool("-S eth1")
    assert f"rx_alloc_fail: {q.stats.alloc_fail}" in stats
    assert f"rx_queue_15_hw_drops: {q.stats.hw_drops}" in stats


def test_runs_are_deterministic():
    a, b = slow_transfer(seed=1)[0], slow_transfer(seed=1)[0]
    sa, sb = a.server.nic.rx_queues[15].stats, b.server.nic.rx_queues[15].stats
    assert (sa.alloc_fail, sa.packets, a.now_ns) == (sb.alloc_fail, sb.packets, b.now_ns)


def test_fast_reader_has_no_drops():
    lab, _binding, cs, out, payload = slow_transfer(pool_pages=1024, hold=10, think_s=0.0)
    assert out == payload
    assert lab.server.nic.rx_queues[15].stats.alloc_fail == 0
    assert cs.retransmits == 0


def test_reader_that_never_returns_tokens_gets_a_clear_error():
    lab = Lab(seed=0)
    steer(lab.server)
    binding = bind(lab.server, lab.server.udmabuf_create(16 * 4096), [15])
    _, cs, conn = connect(lab)
    cs.sendall(b"\0" * (64 * 1428))
    got = 0
    try:
        while True:
            data, _, _, _ = conn.recvmsg(1 << 20, 1 << 20, uapi.MSG_SOCK_DEVMEM)
            got += len(data)
    except BlockingIOError as e:
        assert "SO_DEVMEM_DONTNEED" in str(e)
    # the pool's worth but the 8 posted to the rx ring, then nothing more can arrive: a
    # packet lands in a posted net_iov, its refill fails, the driver drops it and reposts it
    assert got == (16 - 8) * 1428
    assert conn.tokens_held == 16 - 8
    assert (binding.free_count, binding.posted_count) == (0, 8)
    # TCP gave up after tcp_retries2 retransmissions of the same segment
    try:
        cs.send(b"x")
    except OSError as e:
        assert e.errno == 110  # ETIMEDOUT
    else:
        raise AssertionError("the sender should have timed out")


def test_one_lost_segment_is_resent_by_sack_fast_retransmit(monkeypatch):
    """Segments behind a hole wait in the out-of-order queue, holding their net_iovs; three
    segments' worth of SACK later the sender resends just the hole, long before any timer."""
    from devmem_lab.kernel.tcp import socket as tcp

    lab = Lab(seed=0)
    steer(lab.server)
    binding = bind(lab.server, lab.server.udmabuf_create(256 * 4096), [15])
    _, cs, conn = connect(lab)
    real_burst = conn._on_burst
    seen = {"n": 0, "ooo_niovs": 0}

    def lose_third(runs):  # the wire eats the third segment of the flow
        kept = []
        for seq, payload, mss in runs:
            for start in range(0, len(payload), mss):
                seen["n"] += 1
                if seen["n"] != 3:
                    kept.append((seq + start, payload[start:start + mss], mss))
        return real_burst(kept)

    def watch_ooo(*args):
        seen["ooo_niovs"] = max(seen["ooo_niovs"], len(conn._ooo))
        return orig_ack(*args)

    monkeypatch.setattr(conn, "_on_burst", lose_third)
    orig_ack = conn._send_ack
    monkeypatch.setattr(conn, "_send_ack", watch_ooo)
    payload = validation_pattern(40 * 1428)
    cs.sendall(payload)
    out = bytearray()
    while len(out) < len(payload):
        _, anc, _, _ = conn.recvmsg(1 << 20, 1 << 20, uapi.MSG_SOCK_DEVMEM)
        tokens = []
        for _, cm in parse_cmsgs(anc):
            out += binding.dmabuf.read(cm.frag_offset, cm.frag_size)
            tokens.append(cm.frag_token)
        give_back(conn, tokens)
    assert bytes(out) == payload
    assert cs.retransmits == 1
    assert seen["ooo_niovs"] >= 3  # queued behind the hole, each on its own net_iov
    assert lab.now < tcp.TLP_PTO_NS / 1e9  # recovered by SACK, not by a timer
    assert_all_back(binding)