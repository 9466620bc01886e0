"""Property tests for SO_DEVMEM_DONTNEED: random token ranges, lengths and raw option bytes.

Each example fills a small dma-buf with received fragments (read with random iov lengths, so
several tokens can pin one net_iov), then returns tokens with random requests. A model of
``sock_devmem_dontneed`` (``net/core/sock.c``) that knows only what user space saw in the
cmsgs (token -> net_iov, from ``frag_offset``) predicts every return value and every
net_iov's reference count. Closing the socket must hand every net_iov back to its pool.

CI runs a fixed, derandomized set of examples; ``DEVMEM_FUZZ_EXAMPLES=5000`` runs that many
random ones instead (a deeper search, e.g. before a release).
"""

from __future__ import annotations

import errno
import os
import socket
import struct

import numpy as np
import pytest
from conftest import POSTED, assert_all_back, bind, connect, steer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devmem_lab import Lab, uapi
from devmem_lab.uapi import parse_cmsgs

SOL, DONTNEED, DEVMEM = socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, uapi.MSG_SOCK_DEVMEM
U32 = 0xFFFFFFFF
MSS = 1428
DEEP = os.environ.get("DEVMEM_FUZZ_EXAMPLES")  # unset in CI: a fixed, derandomized run
# a fixed run takes seconds; one that hangs or shrinks for minutes fails (pytest-timeout)
pytestmark = pytest.mark.timeout(0 if DEEP else 120)
FUZZ = settings(max_examples=int(DEEP or 60), derandomize=DEEP is None, deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Held:
    """A lab whose server socket holds every token of ``total`` received bytes."""

    def __init__(self, kernel: str, pool_pages: int, total: int, iovs: list[int]) -> None:
        self.lab = lab = Lab(seed=0, kernel=kernel)
        steer(lab.server)
        self.fd = lab.server.udmabuf_create(pool_pages * 4096)
        self.binding = bind(lab.server, self.fd, [15])
        _, self.client, self.conn = connect(lab)
        self.conn.setblocking(False)
        self.client.sendall(bytes(range(256)) * (total // 256) + bytes(total % 256))
        lab.run(0.01)  # everything fits in the pool: it all arrives, nothing is dropped
        self.niov_of: dict[int, int] = {}  # token -> net_iov, as user space learns it
        got, i = 0, 0
        while got < total:
            data, anc, _, _ = self.conn.recvmsg(iovs[i % len(iovs)], 1 << 16, DEVMEM)
            i += 1
            got += len(data)
            for kind, cm in parse_cmsgs(anc):
                assert kind == "dmabuf" and cm.frag_token not in self.niov_of
                self.niov_of[cm.frag_token] = cm.frag_offset // 4096
        assert got == total

    @property
    def pool(self):
        return self.lab.server.nic.rx_queues[15].pool

    def expected_refs(self) -> np.ndarray:
        refs = np.zeros(self.binding.num_niovs, dtype=np.int64)
        for niov in self.niov_of.values():
            refs[niov] += 1
        return refs

    def check_accounting(self) -> None:
        b = self.binding
        want = self.expected_refs()
        want[self.lab.server.nic.rx_queues[15].posted] += 1  # posted: the pool's reference
        assert b.posted_count == POSTED
        assert (b.refs == want).all()
        assert b.free_count == b.num_niovs - np.count_nonzero(want)
        assert self.pool.inflight == np.count_nonzero(want)
        assert self.conn.tokens_held == len(self.niov_of)

    def close(self) -> None:
        os.close(self.fd)


def model_dontneed(held: dict[int, int], ranges: list[tuple[int, int]], cap: int | None) -> int:
    """What ``sock_devmem_dontneed`` returns; erases the freed tokens from ``held``."""
    examined = freed = 0
    for start, count in ranges:
        if cap is not None:
            count = min(count, cap - examined)
        examined += count
        hit = [t for t in held if (t - start) & U32 < count]
        for t in hit:
            del held[t]
        freed += len(hit)
        if cap is not None and examined >= cap:
            break
    return freed


def a_range(max_token: int):
    near = st.integers(0, max_token + 2)
    start = st.one_of(near, near, st.integers(0, U32), st.integers(U32 - 3, U32))
    count = st.one_of(st.integers(0, 4), st.integers(0, max_token + 2),
                      st.integers(0, U32), st.integers(U32 - 3, U32))
    return st.tuples(start, count)


def a_request(max_token: int):
    """Option bytes: well-formed ranges (mostly) or raw bytes of any length."""
    ranges = st.lists(a_range(max_token), min_size=1, max_size=130).map(
        lambda rs: b"".join(struct.pack("=II", s, c) for s, c in rs))
    return st.one_of(ranges, ranges, ranges, st.binary(max_size=1100))


setups = st.tuples(
    st.sampled_from(["6.18", "6.12"]),
    st.sampled_from([24, 48]),  # 16 (or 40) usable: the rx ring keeps 8 posted
    st.integers(1, 16 * MSS),
    st.lists(st.sampled_from([40, 100, 700, 1000, MSS, 4096, 1 << 16]), min_size=1, max_size=4),
)


@FUZZ
@given(setup=setups, data=st.data())
def test_dontneed_returns_exactly_the_frags_it_frees(setup, data):
    kernel, pool_pages, total, iovs = setup
    h = Held(kernel, pool_pages, total, iovs)
    try:
        h.check_accounting()
        cap = uapi.MAX_DONTNEED_FRAGS if kernel != "6.12" else None
        top = max(h.niov_of, default=0)
        for _ in range(data.draw(st.integers(1, 6), label="calls")):
            req = data.draw(a_request(top), label="request")
            before = dict(h.niov_of)
            if len(req) < 4 or len(req) % 8 or len(req) > 8 * uapi.MAX_DONTNEED_TOKENS:
                try:
                    h.conn.setsockopt(SOL, DONTNEED, req)
                except OSError as e:
                    assert e.errno == errno.EINVAL
                else:
                    raise AssertionError(f"{len(req)}-byte option accepted")
                assert h.niov_of == before
            else:
                ranges = [struct.unpack_from("=II", req, i) for i in range(0, len(req), 8)]
                refs_before = int(h.binding.refs.sum())
                freed = h.conn.setsockopt(SOL, DONTNEED, req)
                assert freed == model_dontneed(h.niov_of, ranges, cap)
                assert refs_before - int(h.binding.refs.sum()) == freed  # one put per frag
            h.check_accounting()
            # a token already returned is never freed again
            gone = sorted(set(before) - set(h.niov_of))[:100]
            if gone:
                assert h.conn.setsockopt(SOL, DONTNEED, uapi.pack_tokens(gone)) == 0
        h.conn.close()
        h.client.close()
        h.lab.run(1.0)
        assert_all_back(h.binding)
        assert h.pool.inflight == POSTED
    finally:
        h.close()


@FUZZ
@given(setup=setups, order=st.randoms(use_true_random=False))
def test_returning_every_token_in_any_order_and_grouping_frees_the_pool(setup, order):
    kernel, pool_pages, total, iovs = setup
    h = Held(kernel, pool_pages, total, iovs)
    try:
        tokens = list(h.niov_of)
        order.shuffle(tokens)
        n_tokens, total_freed = len(tokens), 0
        while tokens:
            n = order.randint(1, 100)
            batch, tokens = tokens[:n], tokens[n:]
            batch += order.sample(batch, k=min(len(batch), order.randint(0, 3)))  # repeats
            freed = h.conn.setsockopt(SOL, DONTNEED, uapi.pack_tokens(batch))
            assert freed == len(set(batch))  # a token named twice in one call frees once
            total_freed += freed
            for t in batch:
                h.niov_of.pop(t, None)
            h.check_accounting()
        assert total_freed == n_tokens
        assert_all_back(h.binding)
        assert h.pool.inflight == POSTED
    finally:
        h.close()


@FUZZ
@given(setup=setups, keep=st.integers(0, 2000), unread=st.integers(0, 20 * MSS))
def test_close_returns_every_net_iov_held_or_queued(setup, keep, unread):
    """Tokens still held and skbs still queued at close() all go back to the pool."""
    kernel, pool_pages, total, iovs = setup
    h = Held(kernel, pool_pages, total, iovs)
    try:
        tokens = sorted(h.niov_of)
        drop = tokens[keep:]
        for i in range(0, len(drop), 100):
            h.conn.setsockopt(SOL, DONTNEED, uapi.pack_tokens(drop[i:i + 100]))
        room = (pool_pages * 4096 - h.binding.inflight * 4096) // 4096
        unread = min(unread, max(0, room - 1) * MSS)
        if unread:
            h.client.sendall(b"u" * unread)
            h.lab.run(0.001)  # queued in the socket, never read
        h.conn.close()
        try:  # segments that reach a closed socket are placed, then freed
            h.client.sendall(b"late" * 1000)
        except OSError as e:
            assert e.errno in (errno.ECONNRESET, errno.EPIPE)
        h.lab.run(1.0)
        assert h.conn.tokens_held == 0
        assert_all_back(h.binding)
        assert h.pool.inflight == POSTED
    finally:
        h.close()
