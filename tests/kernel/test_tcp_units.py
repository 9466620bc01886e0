"""TCP's parts on their own: the SACK hole arithmetic of the sender, the frag layout of a
batched skb, and a connection over a fake link (no ``Lab``: ``kernel/netns.py``'s ``Link``).

Models ``net/ipv4/tcp_input.c`` (``tcp_sacktag_write_queue``, RFC 6675 holes and DupThresh)
and ``include/linux/skbuff.h`` (frags after the linear head).
"""

from __future__ import annotations

import heapq
import random
import socket
from functools import partial

import numpy as np
import pytest

from devmem_lab.kernel.netns import NetNamespace
from devmem_lab.kernel.nic.device import NetDevice
from devmem_lab.kernel.nic.frags import FragLayout
from devmem_lab.kernel.state import KERNELS, Kernel
from devmem_lab.kernel.tcp import make_socket
from devmem_lab.kernel.tcp.sender import TLP_PTO_NS, sack_holes, subtract

# ---- SACK hole arithmetic -----------------------------------------------------------------


@pytest.mark.parametrize(("una", "sacked", "holes"), [
    (0, [], []),
    (0, [(100, 200)], [(0, 100)]),
    (100, [(100, 200)], []),  # SACKed from snd_una on: nothing missing below
    (0, [(100, 200), (300, 400)], [(0, 100), (200, 300)]),
    (150, [(100, 200), (300, 400)], [(200, 300)]),  # a block below snd_una moves it up
    (0, [(100, 300), (200, 250), (400, 500)], [(0, 100), (300, 400)]),  # a nested block
])
def test_sack_holes(una, sacked, holes):
    assert sack_holes(una, sacked) == holes


@pytest.mark.parametrize(("ranges", "minus", "out"), [
    ([(0, 100)], [], [(0, 100)]),
    ([(0, 100)], [(0, 100)], []),
    ([(0, 100)], [(20, 30)], [(0, 20), (30, 100)]),
    ([(0, 100)], [(20, 30), (50, 60)], [(0, 20), (30, 50), (60, 100)]),
    ([(0, 100), (200, 300)], [(50, 250)], [(0, 50), (250, 300)]),
    ([(10, 20)], [(0, 10), (20, 30)], [(10, 20)]),  # touching is not overlapping
    ([(10, 20)], [(0, 15)], [(15, 20)]),
    ([(10, 20)], [(15, 40)], [(10, 15)]),
])
def test_subtract(ranges, minus, out):
    assert subtract(ranges, minus) == out


def test_subtract_keeps_every_byte_once():
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1000), 8))
        ranges, minus = list(zip(cuts[0::4], cuts[1::4])), list(zip(cuts[2::4], cuts[3::4]))
        rng.shuffle(minus)
        minus.sort()
        got = {b for a, z in subtract(ranges, minus) for b in range(a, z)}
        assert got == {b for a, z in ranges for b in range(a, z)} - \
            {b for a, z in minus for b in range(a, z)}


# ---- the frag layout ------------------------------------------------------------------------


def test_uniform_layout_is_arithmetic():
    # 3 packets of 5000 bytes (mss), 4096-byte net_iovs: frags 4096, 904, ... not uniform;
    # a uniform one: 10 frags of 4096 but the last (1000)
    lay = FragLayout(0, 9 * 4096 + 1000, 10, 4096)
    assert lay.sizes.tolist() == [4096] * 9 + [1000]
    assert lay.ends[-1] == 9 * 4096 + 1000 and lay.ends[0] == 4096
    assert lay.span(4095, 4097) == (0, 1) and lay.span(0, lay.total) == (0, 9)
    assert lay.bounds(9) == (9 * 4096, 9 * 4096 + 1000)
    assert lay.sizes_of(2, 3) == 4096


def test_explicit_layout_with_a_linear_head():
    lay = FragLayout.explicit(100, np.array([4096, 4096, 10], dtype=np.int64))
    assert (lay.head, lay.total, lay.count, lay.fsize) == (100, 8302, 3, 0)
    assert lay.ends.tolist() == [4196, 8292, 8302]
    assert lay.span(100, 4197) == (0, 1) and lay.span(8292, 8302) == (2, 2)
    assert lay.bounds(1) == (4196, 8292)
    assert lay.sizes_of(1, 2).tolist() == [4096, 10]


def test_batch_layout_split_and_drop():
    # 3 packets of 1428 bytes, one 4096-byte net_iov each (uniform frag size: the mss)
    lay = FragLayout(0, 3 * 1428, 3, 1428, segs=(1428, 3, 1428))
    assert lay.seg_lens.tolist() == [1428] * 3
    assert lay.read_segments(1427, 4096) == (0, 0)  # the first packet is not yet read
    assert lay.read_segments(2 * 1428 + 5, 4096) == (2, 2 * 1428)
    assert lay.read_segments(10 ** 6, 4096) == (2, 2 * 1428)  # the last packet stays
    rest = lay.after(2, 2 * 1428)
    assert (rest.total, rest.count, rest.fsize, rest.segs) == (1428, 1, 1428, None)
    parts = lay.split(4096)
    assert [(at, n, f, p.sizes.tolist()) for at, n, f, p in parts] == \
        [(0, 1428, 0, [1428]), (1428, 1428, 1, [1428]), (2856, 1428, 2, [1428])]


# ---- a connection over a fake link ------------------------------------------------------------


class FakeLink:
    """The ``Link`` protocol with a fixed time per frame and a chosen NAPI poll lost."""

    def __init__(self, lose_burst: int | None = None, frame_ns: int = 1000,
                 lose_seqs: tuple[int, ...] = ()) -> None:
        self.now_ns, self.delay_ns, self.wakeup_ns = 0, 10_000, 0
        self.rng = random.Random(0)
        self.frame_ns = frame_ns
        self.lose_burst, self.bursts = lose_burst, 0
        self.lose_seqs = set(lose_seqs)  # segments lost once, by sequence number
        self.namespaces: list[NetNamespace] = []
        self._events: list = []
        self._seq = 0
        self.busy: dict[str, int] = {}

    def schedule(self, delay_ns, fn):
        self.schedule_at(self.now_ns + delay_ns, fn)

    def schedule_at(self, t_ns, fn):
        if getattr(fn, "func", None) is not None and fn.func.__name__ == "_on_burst":
            self.bursts += 1
            if self.bursts == self.lose_burst:
                return  # the whole poll's packets never arrive
            if self.lose_seqs:
                fn = partial(fn.func, self._without_lost(fn.args[0]))
        self._seq += 1
        heapq.heappush(self._events, (max(t_ns, self.now_ns), self._seq, fn))

    def _without_lost(self, runs):
        out = []
        for seq, payload, mss in runs:
            start = 0
            for at in range(0, len(payload), mss):
                if seq + at in self.lose_seqs:
                    self.lose_seqs.discard(seq + at)
                    if at > start:
                        out.append((seq + start, payload[start:at], mss))
                    start = at + mss
            if start < len(payload):
                out.append((seq + start, payload[start:], mss))
        return out

    def wire(self, src, frame_bytes):
        return self.wire_run(src, frame_bytes, 0, frame_bytes)

    def wire_run(self, src, frame_bytes, count, last_bytes):
        """Frames from one namespace leave one after another, ``frame_ns`` each."""
        busy = max(self.now_ns, self.busy.get(src.name, 0)) + (count + 1) * self.frame_ns
        self.busy[src.name] = busy
        return busy + self.delay_ns

    def _step(self):
        t, _, fn = heapq.heappop(self._events)
        self.now_ns = t
        fn()

    def run(self, seconds):
        end = self.now_ns + int(seconds * 1e9)
        while self._events and self._events[0][0] <= end:
            self._step()
        self.now_ns = end

    def run_until(self, predicate, deadline_ns=None):
        while not predicate():
            if not self._events or (deadline_ns is not None and self._events[0][0] > deadline_ns):
                return False
            self._step()
        return True

    def netns_by_address(self, address):
        return next((n for n in self.namespaces if address in (n.address, n.address4)), None)


def _pair(link: FakeLink, rcvbuf: int | None = 2 << 20, version: str = "6.18"):
    for i, name in enumerate(("server", "client")):
        kernel = Kernel(KERNELS[version])
        nic = NetDevice(kernel, "eth1", 2, mtu=1500, mac=f"02:00:00:00:00:0{i}")
        kernel.devices = {1: NetDevice(kernel, "lo", 1, kind="loopback", mtu=65536), 2: nic}
        link.namespaces.append(NetNamespace(name, kernel, nic, f"fd00::{i + 1}",
                                            f"10.0.0.{i + 1}", link))
    srv, cli = link.namespaces
    ls = make_socket(srv, socket.AF_INET6, socket.SOCK_STREAM)
    if rcvbuf is not None:  # 2 MiB (locked at 4 MiB): room for all the data
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    ls.bind(("::", 5201))
    ls.listen()
    cs = make_socket(cli, socket.AF_INET6, socket.SOCK_STREAM)
    cs.connect(("fd00::1", 5201))
    conn, _ = ls.accept()
    return cs, conn


def _read_all(conn, n):
    got = b""
    while len(got) < n:
        got += conn.recv(n - len(got))
    return got


def test_fake_link_in_order():
    link = FakeLink()
    cs, conn = _pair(link)
    data = bytes(range(256)) * 1000  # 256000 bytes: 179 segments of 1428 and a short one
    assert cs.send(data) == len(data)
    assert _read_all(conn, len(data)) == data
    # the initial window's 10 segments, then polls of 64, 64, 42
    assert (cs.mss, cs.retransmits, link.bursts) == (1428, 0, 4)
    link.run(0.001)  # the last ACK arrives
    assert cs.tx_stats.packets == 180 and cs.snd_una == len(data)


def test_fake_link_lost_poll_is_fast_retransmitted_from_sack():
    link = FakeLink(lose_burst=2)  # the first 64 segments after the initial window are lost
    cs, conn = _pair(link)
    data = bytes(range(251)) * 1000
    cs.send(data)
    link.run(0.0005)  # the later polls arrive out of order: SACKed, then the hole is resent
    assert cs.retransmits == 64 and link.now_ns < TLP_PTO_NS
    assert conn._ooo == {} and conn.rcv_nxt == len(data)
    assert _read_all(conn, len(data)) == data


def test_fake_link_lost_tail_is_recovered_by_the_probe():
    link = FakeLink(lose_burst=4)  # the last poll (42 segments): nothing SACKs above it
    cs, conn = _pair(link)
    data = bytes(range(256)) * 1000
    cs.send(data)
    link.run(0.001)
    assert cs.retransmits == 0 and conn.rcv_nxt == 138 * 1428
    link.run(0.002)  # the tail-loss probe at 2 ms resends everything unacknowledged
    assert cs.retransmits == 42 and conn.rcv_nxt == len(data)
    assert _read_all(conn, len(data)) == data


# ---- receive memory: truesize, the window, ofo pruning (kernel/tcp/rmem.py, receiver.py) ---


def test_truesize_and_the_measured_scaling_ratio():
    link = FakeLink()
    cs, conn = _pair(link)
    assert conn.rcvbuf == 4 << 20 and conn.scaling_ratio == 128  # 50% until measured
    assert cs._peer_rwnd == 10 * 1428  # the SYN-ACK's initial window: 10 segments
    cs.send(b"x" * (10 * 1428))
    link.run(0.0001)
    # each 1428-byte segment sits in a 4 KiB page plus an 832-byte head: 4928 charged
    assert conn._rmem == 10 * 4928 and conn._rq_bytes == 10 * 1428
    assert conn.scaling_ratio == 1428 * 256 // 4928 == 74 and conn.rcv_mss == 1428
    free = (4 << 20) - 10 * 4928
    assert conn._adv_rwnd == -(-(free * 74 >> 8) // 1024) * 1024  # wscale 10 (tcp_rmem[2])
    conn.recv(10 * 1428)
    assert conn._rmem == 0


@pytest.mark.parametrize(("version", "rcv_nxt", "ooo_at_first"), [
    ("6.18", 3 * 1428, 3),  # rmem + len <= sk_rcvbuf: the 4th ofo segment is dropped
    ("6.12", 4 * 1428, 4),  # rmem <= sk_rcvbuf: taken, then pruned for the retransmission
])
def test_ofo_admission_and_pruning_by_release(version, rcv_nxt, ooo_at_first):
    # SO_RCVBUF 7500: sk_rcvbuf 15000, locked; the initial window (7500) sends 5 segments
    link = FakeLink(lose_seqs=(0,))
    cs, conn = _pair(link, rcvbuf=7500, version=version)
    data = bytes(range(256)) * 40
    cs.send(data)
    link.run(0.00002)  # the 4 segments after the lost one are in (at 15 us), no ACK back yet
    assert len(conn._ooo) == ooo_at_first and conn._rmem == ooo_at_first * 4928
    link.run(0.0001)  # SACK -> fast retransmit of segment 0 -> it needs room: prune
    assert cs.retransmits == 1 and conn.rcv_nxt == rcv_nxt
    assert conn.mib == {"PruneCalled": 2, "RcvPruned": 1, "OfoPruned": 1, "TCPOFODrop": 1,
                        "TCPRcvQDrop": 0}
    assert conn.rcvbuf == 15000  # locked: tcp_clamp_window may not grow it
    assert _read_all(conn, len(data)) == data  # what was dropped comes again


def test_autotuning_grows_an_unlocked_buffer_only():
    for rcvbuf, grows in ((None, True), (64 << 10, False)):
        link = FakeLink()
        cs, conn = _pair(link, rcvbuf=rcvbuf)
        before = conn.rcvbuf
        data = bytes(range(256)) * 4000
        cs.send(data)
        assert _read_all(conn, len(data)) == data
        assert (conn.rcvbuf > before) is grows
        assert conn.rcvbuf <= 32 << 20  # tcp_rmem[2]
