"""Random interleavings of devmem TX: sendmsg, completion reads, binding close, socket close.

A ``RuleBasedStateMachine`` drives one connection whose client sends from a TX-bound dma-buf
(random iovecs, some reaching past its end) to a server reading with plain ``recv`` or from a
devmem rx queue (``MSG_SOCK_DEVMEM``, tokens returned at once). Checked after every step: the
bytes received are a prefix of the dma-buf bytes the client's ``sendmsg`` calls queued, in
order (nothing lost, duplicated or reordered); completions come in order, each sendmsg call
that queued bytes reported exactly once and no other. At the end, unless a side closed, every
byte arrives and every call is completed.

CI runs a fixed, derandomized set of examples; ``DEVMEM_FUZZ_EXAMPLES=5000`` runs more.
"""

from __future__ import annotations

import errno
import mmap
import os
import random
import socket

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from devmem_lab import Lab, uapi
from devmem_lab.scenario import ncdevmem_rx, ncdevmem_tx

S, ZC = socket.SOL_SOCKET, uapi.MSG_ZEROCOPY
PAGES = 32
SIZE = PAGES * 4096
CONTENT = random.Random(11).randbytes(SIZE)
SENDER_ERRORS = {errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT}

iov = st.tuples(st.one_of(st.integers(0, SIZE - 1), st.sampled_from([0, 4095, SIZE - 10, SIZE])),
                st.one_of(st.integers(0, 20_000), st.sampled_from([1, 4096, 65536, 70_000])))


class TxFlow(RuleBasedStateMachine):
    @initialize(devmem_rx=st.booleans(), rcvbuf=st.sampled_from([None, 8192, 65536]))
    def setup(self, devmem_rx, rcvbuf):
        self.lab = lab = Lab(seed=0)
        self.devmem_rx = devmem_rx
        if devmem_rx:  # queue 15 bound without netlink, no sockets yet
            rx = ncdevmem_rx(lab, pages=256, netlink=False, listen=False)
            self.rx_fd, self.rx_binding = rx.fd, rx.binding
            self.rx_mem = mmap.mmap(self.rx_fd, 256 * 4096)
        tx = ncdevmem_tx(lab, size=SIZE, rcvbuf=rcvbuf, fill=lambda view: view.write(CONTENT))
        self.nl, self.tx_id, self.cs, self.conn = tx.netdev, tx.tx_id, tx.client, tx.conn
        self.bound = True
        self.conn.setblocking(False)
        self.sent = bytearray()  # what the sendmsg calls queued, in order
        self.received = bytearray()
        self.calls = 0  # sendmsg calls that queued bytes (their notification ids)
        self.reported: list[int] = []
        self.client_closed = self.server_closed = self.dead = False

    @property
    def anc(self):
        return [(S, uapi.SCM_DEVMEM_DMABUF, uapi.pack_tx_dmabuf_id(self.tx_id))]

    @precondition(lambda self: not self.client_closed)
    @rule(iovs=st.lists(iov, min_size=1, max_size=4))
    def send(self, iovs):
        want = b"".join(CONTENT[o:o + n] for o, n in iovs)
        try:
            n = self.cs.sendmsg([uapi.DmabufIov(o, n) for o, n in iovs], self.anc, ZC)
        except OSError as e:
            if not self.bound:  # the binding is looked up before anything else
                assert e.errno == errno.EINVAL
            elif self.dead and e.errno in SENDER_ERRORS:  # once the RST has arrived
                pass
            else:
                assert e.errno == errno.EFAULT
                assert sum(n for _, n in iovs) > len(want)  # some iov reached past the end
            return
        assert 0 <= n <= len(want)
        assert self.bound or n == 0  # an empty send looks no binding up
        assert n == len(want) or sum(l for _, l in iovs) > len(want)  # short only at the end
        if n:
            self.sent += want[:n]
            self.calls += 1

    @precondition(lambda self: not self.server_closed)
    @rule(size=st.sampled_from([1, 1000, 65536, 1 << 20]))
    def read(self, size):
        try:
            if self.devmem_rx:
                data, anc, _, _ = self.conn.recvmsg(size, 1 << 16, uapi.MSG_SOCK_DEVMEM)
                for kind, c in uapi.parse_cmsgs(anc):
                    assert kind == "dmabuf"
                    self.received += self.rx_mem[c.frag_offset:c.frag_offset + c.frag_size]
                    self.conn.setsockopt(S, uapi.SO_DEVMEM_DONTNEED,
                                         uapi.DmabufToken(c.frag_token, 1).pack())
                if not anc:
                    self.received += data
            else:
                self.received += self.conn.recv(size)
        except BlockingIOError:
            pass
        except OSError as e:
            assert e.errno in (errno.ECONNRESET, errno.EPIPE)

    @precondition(lambda self: not self.client_closed)
    @rule()
    def read_completions(self):
        while True:
            try:
                _, anc, flags, _ = self.cs.recvmsg(0, 100, uapi.MSG_ERRQUEUE)
            except BlockingIOError:
                return
            assert flags == uapi.MSG_ERRQUEUE
            ee = uapi.SockExtendedErr.unpack(anc[0][2])
            assert (ee.ee_errno, ee.ee_origin, ee.ee_code) == (0, uapi.SO_EE_ORIGIN_ZEROCOPY, 0)
            self.reported += list(ee.calls)

    @rule(us=st.sampled_from([1, 50, 1000, 300_000]))
    def run(self, us):
        self.lab.run(us / 1e6)

    @precondition(lambda self: self.bound)
    @rule()
    def close_binding(self):
        self.nl.close()
        self.bound = False

    @precondition(lambda self: not self.client_closed)
    @rule()
    def close_client(self):
        self.cs.close()
        self.client_closed = True

    @precondition(lambda self: not self.server_closed)
    @rule()
    def close_server(self):
        self.conn.close()
        self.server_closed = self.dead = True

    @invariant()
    def received_is_a_prefix_of_sent(self):
        assert len(self.received) <= len(self.sent)
        assert self.received == self.sent[:len(self.received)]

    @invariant()
    def completions_in_order_exactly_once(self):
        assert self.reported == list(range(len(self.reported)))
        assert len(self.reported) <= self.calls

    def teardown(self):
        if not hasattr(self, "lab") or self.server_closed:
            return
        for _ in range(1000):  # a 16 KiB receive buffer takes 3 segments per 10 ms read
            self.read(1 << 20)
            self.lab.run(0.01)
            if len(self.received) == len(self.sent):
                break
        assert self.received == self.sent
        if not self.client_closed:
            self.lab.run(0.5)
            self.read_completions()
            assert self.reported == list(range(self.calls))


DEEP = os.environ.get("DEVMEM_FUZZ_EXAMPLES")
TxFlow.TestCase.settings = settings(
    max_examples=int(DEEP or 100), derandomize=DEEP is None, stateful_step_count=30,
    deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestTxFlow = TxFlow.TestCase
