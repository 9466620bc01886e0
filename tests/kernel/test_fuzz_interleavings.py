"""Random interleavings of send, recvmsg, token return, bind/unbind and close (hypothesis).

A ``RuleBasedStateMachine`` drives one steered devmem flow: the client sends slices of a fixed
random byte stream; the server reads with random iov and control-buffer sizes and flags
(``MSG_SOCK_DEVMEM``, ``MSG_PEEK``, ``MSG_TRUNC``, ``MSG_WAITALL``, always ``MSG_DONTWAIT``),
returns random sets of tokens, binds a dma-buf through netlink and unbinds it by closing the
netlink socket, lets virtual time run, and closes either end.

Checked after every step: the bytes read so far (linear bytes from ``data``, dmabuf bytes from
the dma-buf at ``frag_offset``, in cmsg order) equal the same-length prefix of what was sent;
every token is new; each net_iov's reference count is the tokens user space holds on it plus
the skbs queued on the socket; a binding's free list and reference counts agree; page pools
never go negative and a devmem pool's inflight equals its binding's busy net_iovs. At the end
the rest is drained: all bytes arrive exactly once, and every net_iov and page is back.

CI runs a fixed, derandomized set of examples; ``DEVMEM_FUZZ_EXAMPLES=5000`` runs that many
random ones instead (a deeper search, e.g. before a release).
"""

from __future__ import annotations

import errno
import os
import random
import socket

import numpy as np
import pytest
from conftest import connect, steer
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from devmem_lab import Lab, uapi
from devmem_lab.uapi import parse_cmsgs
from devmem_lab.ynl import Netdev

SOL, DONTNEED = socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED
DEVMEM, PEEK, TRUNC = uapi.MSG_SOCK_DEVMEM, uapi.MSG_PEEK, uapi.MSG_TRUNC
WAITALL, DONTWAIT = uapi.MSG_WAITALL, uapi.MSG_DONTWAIT
CMSG = socket.CMSG_SPACE(uapi.DMABUF_CMSG_SIZE)
SOURCE = random.Random(7).randbytes(256 << 10)
# Linux reports ECONNRESET (or ETIMEDOUT) on the first send after the connection died, then
# EPIPE, and so does the emulator.
SENDER_ERRORS = {errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT}
MAX_SENT = 256 << 10  # per example: keeps recovery over a tiny pool affordable

bufsizes = st.one_of(st.sampled_from([0, 1, 100, 1000, 1428, 1429, 4096, 65536]),
                     st.integers(0, 200_000))
ancsizes = st.one_of(st.sampled_from([0, 16, socket.CMSG_LEN(24) - 1, socket.CMSG_LEN(24), CMSG,
                                      3 * CMSG - 1, 4096, 1 << 16]), st.integers(0, 4 * CMSG))
flag_sets = st.tuples(st.booleans(), st.integers(0, 9), st.integers(0, 14), st.integers(0, 9)).map(
    lambda t: DONTWAIT | (DEVMEM if t[0] or t[1] else 0) | (PEEK if t[2] == 0 else 0)
    | (TRUNC if t[2] == 1 else 0) | (WAITALL if t[3] == 0 else 0))


class DevmemFlow(RuleBasedStateMachine):
    """One server/client pair on a lab, bound and unbound through netlink."""

    @initialize(kernel=st.sampled_from(["6.18", "6.12"]), pages=st.sampled_from([8, 32, 128]),
                linear=st.sampled_from([0, 0, 100]), first=st.integers(0, 120_000))
    def setup(self, kernel, pages, linear, first):
        self.lab = Lab(seed=0, kernel=kernel)
        self.server = self.lab.server
        steer(self.server)
        self.server.nic.hds_linear_bytes = linear  # payload bytes left in the header buffer
        self.listener, self.cs, self.conn = connect(self.lab)
        self.conn.setblocking(False)
        self.sent = 0  # bytes handed to the client socket
        self.received = 0  # stream offset the server has read up to
        self.eof = False
        self.client_closed = self.conn_closed = self.sender_dead = False
        self.held: dict[int, tuple[object, int]] = {}  # token -> (binding, net_iov)
        self.bindings: dict[int, object] = {}  # every binding ever made, by id
        self.all_bindings: list = []
        self.fds: list[int] = []
        self.nl: Netdev | None = None
        self.steps = 0
        self.bind(pages)
        self.send(first)  # rules can be switched off per example (swarm testing): start busy
        self.lab.run(0.001)

    # ---- rules -------------------------------------------------------------------------------
    @rule(pages=st.sampled_from([8, 32, 128]))
    def bind(self, pages):
        """bind-rx over a fresh netlink socket (6.12 and 6.18 both accept it here)."""
        if self.nl is not None:
            return
        fd = self.server.udmabuf_create(pages * 4096)
        self.fds.append(fd)
        self.nl = Netdev(self.server.netlink())
        bid = self.nl.bind_rx(self.server.if_nametoindex("eth1"), fd, [15])["id"]
        binding = self.server.kernel.bindings[bid]
        assert bid not in self.bindings  # ids are cyclic: never reused within a run
        self.bindings[bid] = binding
        self.all_bindings.append(binding)

    @rule(coin=st.randoms(use_true_random=False))
    def unbind(self, coin):
        """Closing the netlink socket unbinds: queue 15 restarts on host pages."""
        if self.nl is not None and coin.random() < 0.3:
            if self.held or (not self.conn_closed and self.conn._rq):
                event("unbound while net_iovs were still in use")
            self.nl.close()
            self.nl = None

    @precondition(lambda self: not self.client_closed and not self.sender_dead
                  and self.sent < MAX_SENT)
    @rule(n=st.one_of(st.integers(1, 3000), st.integers(1, 60_000)))
    def send(self, n):
        n = min(n, MAX_SENT - self.sent)
        if not n:
            return
        try:
            self.cs.sendall(SOURCE[self.sent:self.sent + n])
        except OSError as e:
            assert e.errno in SENDER_ERRORS, e
            self.sender_dead = True
            return
        self.sent += n

    @rule(seconds=st.sampled_from([0.0, 1e-6, 20e-6, 300e-6, 2e-3, 0.05, 0.3]))
    def run(self, seconds):
        self.lab.run(seconds)

    @precondition(lambda self: not self.conn_closed)
    @rule(bufsize=bufsizes, ancbufsize=ancsizes, flags=flag_sets)
    def recv(self, bufsize, ancbufsize, flags):
        self._read(bufsize, ancbufsize, flags)

    def _read(self, bufsize: int, ancbufsize: int, flags: int) -> str:
        """One recvmsg, checked against the stream; "again", "fault", "eof" or "data"."""
        try:
            data, anc, msg_flags, _ = self.conn.recvmsg(bufsize, ancbufsize, flags)
        except BlockingIOError:
            return "again"
        except OSError as e:
            # EFAULT: devmem data without MSG_SOCK_DEVMEM; no room for the first cmsg is
            # ETOOSMALL on 6.18 (18282100d704) and EFAULT on 6.12
            exposed = flags & DEVMEM and self.server.kernel.version.recvmsg_errors_exposed
            assert e.errno == (uapi.ETOOSMALL if exposed else errno.EFAULT), e
            return "fault"
        assert msg_flags == 0
        assert len(data) <= bufsize
        if bufsize and not data:
            assert anc == [] and self.client_closed
            assert self.received == self.sent  # EOF only after every byte
            self.eof = True
            return "eof"
        if flags & TRUNC:
            assert anc == []
            if not flags & PEEK:
                self.received += len(data)
            return "data"
        stream = self._reassemble(data, anc, flags)
        assert stream == SOURCE[self.received:self.received + len(stream)], "wrong bytes"
        if not flags & PEEK:
            self.received += len(stream)
        assert self.received <= self.sent
        return "data"

    def _reassemble(self, data: bytes, anc: list, flags: int) -> bytes:
        """The stream bytes one recvmsg returned, in order, and the tokens it handed out."""
        if not anc:
            return data
        assert flags & DEVMEM
        event("devmem read" + (" with MSG_PEEK" if flags & PEEK else ""))
        out, lin = [], 0
        for kind, cm in parse_cmsgs(anc):
            if kind == "linear":
                event("SCM_DEVMEM_LINEAR")
                out.append(data[lin:lin + cm.frag_size])
                lin += cm.frag_size
                continue
            binding = self.bindings[cm.dmabuf_id]
            assert cm.frag_token not in self.held, "token handed out twice"
            self.held[cm.frag_token] = (binding, cm.frag_offset // binding.niov_size)
            out.append(binding.dmabuf.read(cm.frag_offset, cm.frag_size))
        stream = b"".join(out)
        assert len(stream) == len(data)
        assert not any(data[lin:])  # only linear bytes are written
        return stream

    @precondition(lambda self: not self.conn_closed)
    @rule(pick=st.randoms(use_true_random=False), bogus=st.lists(st.integers(0, 5000), max_size=4))
    def return_tokens(self, pick, bogus):
        tokens = list(self.held)
        chosen = pick.sample(tokens, k=pick.randint(0, min(100, len(tokens))))
        request = chosen + bogus + pick.sample(chosen, k=min(2, len(chosen)))
        pick.shuffle(request)
        if not request:
            return
        freed = self.conn.setsockopt(SOL, DONTNEED, uapi.pack_tokens(request))
        assert freed == len(set(request) & set(self.held))
        for t in request:
            self.held.pop(t, None)

    # Closing ends most of what can happen next, so it fires on a fraction of the draws
    # (hypothesis favours boundary integers, and the first rule of its sorted list: a plain
    # "close if n == 0" or an argument-less unbind fired at once and all the time).
    @precondition(lambda self: not self.client_closed)
    @rule(coin=st.randoms(use_true_random=False))
    def close_client(self, coin):
        if coin.random() < 0.15:
            self.cs.close()
            self.client_closed = True

    @precondition(lambda self: not self.conn_closed)
    @rule(coin=st.randoms(use_true_random=False))
    def close_conn(self, coin):
        if coin.random() < 0.1:
            self._close_conn()

    def _close_conn(self):
        self.conn.close()
        self.conn_closed = True
        self.held.clear()  # close() drops every token the socket held

    # ---- invariants -------------------------------------------------------------------------
    @invariant()
    def pools_balance(self):
        if not hasattr(self, "lab"):
            return
        self.steps += 1
        queued, pages = {}, {}
        if not self.conn_closed:
            # skbs the socket holds: the receive queue and, where the datapath keeps one, the
            # out-of-order queue (whose skbs keep their net_iovs until they are in order)
            ooo = getattr(self.conn, "_ooo", {})
            for skb in [*self.conn._rq, *(ooo.values() if isinstance(ooo, dict) else ooo)]:
                for binding, niov, _, _ in skb.frags:
                    queued[id(binding), niov] = queued.get((id(binding), niov), 0) + 1
                if skb.pool is not None:  # host pages of a readable skb
                    pages[id(skb.pool)] = pages.get(id(skb.pool), 0) + skb.pages
        expect = {id(b): np.zeros(b.num_niovs, dtype=np.int64) for b in self.all_bindings}
        for binding, niov in self.held.values():
            expect[id(binding)][niov] += 1
        for (bid, niov), n in queued.items():
            expect[bid][niov] += n
        for q in self.server.nic.rx_queues:  # posted to an rx ring: the page pool's reference
            if q.binding is not None:
                expect[id(q.binding)][q.posted] += 1
            if q.posted_pages:
                pages[id(q.pool)] = pages.get(id(q.pool), 0) + q.posted_pages
        pools = list(self.server.kernel.page_pools.values())
        for b in self.all_bindings:
            assert (b.refs == expect[id(b)]).all(), "net_iov refs != tokens held + skbs held"
            assert len(b.free_niovs) == b.free_count and not b.refs[b.free_niovs].any()
            assert b.free_count + np.count_nonzero(b.refs) == b.num_niovs
            # a devmem pool lends only net_iovs (header buffers are not modelled)
            lent = sum(p.inflight - pages.get(id(p), 0) for p in pools if p.provider is b)
            assert lent == np.count_nonzero(b.refs)
        assert all(p.inflight >= 0 for p in pools)
        if not self.conn_closed:
            assert self.conn.tokens_held == len(self.held)

    # ---- the end: drain, then everything is back ------------------------------------------------
    def teardown(self):
        if not hasattr(self, "lab"):
            return
        try:
            self._drain()
        finally:
            if self.nl is not None:
                self.nl.close()
            for fd in self.fds:
                os.close(fd)

    def _drain(self):
        if not self.client_closed:
            self.cs.close()
            self.client_closed = True
        if not self.conn_closed:
            self.conn.setblocking(True)  # a blocking read advances the lab to the next data
            while not self.eof:
                if self.held:
                    tokens = list(self.held)
                    for i in range(0, len(tokens), 100):
                        self.conn.setsockopt(SOL, DONTNEED, uapi.pack_tokens(tokens[i:i + 100]))
                    self.held.clear()
                if self._read(1 << 16, 1 << 16, DEVMEM) == "again":
                    break  # nothing can arrive any more (the sender gave up)
                self.pools_balance()
            event("drained to EOF" if self.eof else "sender gave up")
            if not self.sender_dead and self.cs._err == 0:
                assert self.eof and self.received == self.sent, "bytes lost or duplicated"
            self._close_conn()
        stats = self.server.nic.rx_queues[15].stats
        event("NIC dropped for lack of net_iovs" if stats.alloc_fail else "no drops")
        event(f"bindings made: {len(self.all_bindings)}")
        event(f"steps {min(self.steps // 10 * 10, 40)}+")
        event(f"sent {'0' if not self.sent else '<10k' if self.sent < 10_000 else '>=10k'}")
        self.lab.run(1000.0)  # every timer and late segment
        pools = list(self.server.kernel.page_pools.values())
        for b in self.all_bindings:  # all back but what the rx rings keep posted
            posted = b.posted_niovs
            assert b.refs.sum() == len(posted) and (b.refs[posted] == 1).all()
            assert b.free_count == b.num_niovs - len(posted)
        ring = {id(q.pool): len(q.posted) + q.posted_pages for q in self.server.nic.rx_queues}
        assert all(p.inflight == ring.get(id(p), 0) for p in pools), pools
        if self.nl is not None:  # unbind: the rings' net_iovs go back too
            self.nl.close()
            self.nl = None
            for b in self.all_bindings:
                assert not b.refs.any() and b.free_count == b.num_niovs


DEEP = os.environ.get("DEVMEM_FUZZ_EXAMPLES")  # unset in CI: a fixed, derandomized run
# a fixed run takes seconds; one that hangs or shrinks for minutes fails (pytest-timeout)
pytestmark = pytest.mark.timeout(0 if DEEP else 120)
DevmemFlow.TestCase.settings = settings(
    max_examples=int(DEEP or 150), derandomize=DEEP is None, stateful_step_count=40,
    deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])
TestInterleavings = DevmemFlow.TestCase
