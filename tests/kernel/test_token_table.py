"""The socket's token table (``sk_user_frags``) through recvmsg and SO_DEVMEM_DONTNEED, and
the pure-state :class:`~devmem_lab.kernel.tcp.token_table.TokenTable` against a model.

Models ``net/ipv4/tcp.c`` (``tcp_recvmsg_dmabuf``: ``xa_alloc`` with ``XA_FLAGS_ALLOC1``,
the lowest free token >= 1) and ``net/core/sock.c`` (``sock_devmem_dontneed``). Fast, direct
checks of what the interleavings fuzzer otherwise finds only after minutes: the lowest-free
search past its window, and which binding each token's net_iov goes back to.
"""

import socket

import numpy as np
import pytest
from conftest import bind, connect, steer
from hypothesis import given, settings
from hypothesis import strategies as st

from devmem_lab import Lab, uapi
from devmem_lab.kernel.devmem import close_rxq
from devmem_lab.kernel.tcp.token_table import TokenTable
from devmem_lab.uapi import DmabufToken, parse_cmsgs

SOL, DONTNEED = socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED
MSS = 1428
U32 = 2**32 - 1


def read(conn, n_bytes):
    """(token, dmabuf_id) of every frag of the next ``n_bytes``."""
    out, got = [], 0
    while got < n_bytes:
        data, anc, _, _ = conn.recvmsg(n_bytes - got, 1 << 20, uapi.MSG_SOCK_DEVMEM)
        got += len(data)
        out += [(c.frag_token, c.dmabuf_id) for _, c in parse_cmsgs(anc)]
    return out


def tokens(conn, packets):
    return [t for t, _ in read(conn, packets * MSS)]


def dontneed(conn, toks):
    return conn.setsockopt(SOL, DONTNEED, uapi.pack_tokens(toks))


@pytest.fixture
def big():
    """600 frags held on one socket (a 2048-net_iov binding on queue 15)."""
    lab = Lab(seed=0)
    steer(lab.server)
    binding = bind(lab.server, lab.server.udmabuf_create(2048 * 4096), [15])
    _, cs, conn = connect(lab)
    cs.sendall(b"\1" * (600 * MSS))
    assert tokens(conn, 600) == list(range(1, 601))
    return binding, cs, conn


def test_lowest_free_token_beyond_the_search_window(big):
    binding, cs, conn = big
    assert dontneed(conn, [5, 500, 501]) == 3
    assert conn.tokens_held == 597
    cs.sendall(b"\2" * (4 * MSS))
    assert tokens(conn, 1) == [5]
    # from 6 on the window holds no free token: the whole table is searched, then the top
    assert tokens(conn, 3) == [500, 501, 601]
    assert conn.tokens_held == 601
    assert binding.inflight == 601 + 8  # and the 8 posted to the rx ring


def test_freed_tokens_are_reused_lowest_first(devmem):
    devmem.client.sendall(b"a" * (6 * MSS))
    assert tokens(devmem.conn, 6) == [1, 2, 3, 4, 5, 6]
    assert dontneed(devmem.conn, [4]) == 1
    assert dontneed(devmem.conn, [2, 3]) == 2
    assert devmem.conn.tokens_held == 3
    devmem.client.sendall(b"b" * (4 * MSS))
    assert tokens(devmem.conn, 4) == [2, 3, 4, 7]


def test_each_token_returns_to_its_own_binding(devmem):
    lab, a = devmem.lab, devmem.binding
    devmem.client.sendall(b"a" * (4 * MSS))
    assert read(devmem.conn, 4 * MSS) == [(t, a.id) for t in (1, 2, 3, 4)]
    close_rxq(lab.server.nic, 15, a)  # the queue moves to a second dma-buf
    b = bind(lab.server, lab.server.udmabuf_create(64 * 4096), [15])
    devmem.client.sendall(b"b" * (3 * MSS))
    assert read(devmem.conn, 3 * MSS) == [(t, b.id) for t in (5, 6, 7)]
    # a's ring went back with the restart; b's new ring has 8 posted (its packets landed in
    # the first 3 and were refilled from the genpool)
    assert (a.inflight, b.inflight, b.posted_count) == (4, 3 + 8, 8)
    assert dontneed(devmem.conn, [2, 6]) == 2
    assert (a.inflight, b.inflight) == (3, 2 + 8)
    assert a.refs[:4].tolist() == [1, 0, 1, 1] and b.refs[:3].tolist() == [1, 0, 1]
    assert dontneed(devmem.conn, [5, 7]) == 2
    assert (a.inflight, b.inflight, b.free_count) == (3, 8, 64 - 8)
    devmem.conn.close()  # frees the rest, each to its binding
    assert (a.inflight, b.inflight, devmem.conn.tokens_held) == (0, 8, 0)


def test_dontneed_range_wraps_past_u32(devmem):
    devmem.client.sendall(b"a" * (3 * MSS))
    assert tokens(devmem.conn, 3) == [1, 2, 3]
    # tokens U32, 0, 1: only 1 exists; then U32-1 .. 3: 2 and 3 are left
    assert devmem.conn.setsockopt(SOL, DONTNEED, DmabufToken(U32, 3).pack()) == 1
    assert devmem.conn.setsockopt(SOL, DONTNEED, DmabufToken(U32 - 1, 6).pack()) == 2
    assert devmem.conn.tokens_held == 0


def test_dontneed_ranges_and_limits(devmem):
    devmem.client.sendall(b"a" * (8 * MSS))
    assert tokens(devmem.conn, 8) == list(range(1, 9))
    # ranges past the table's top and token 0 are skipped, the rest counted once
    data = DmabufToken(0, 3).pack() + DmabufToken(7, 100).pack() + DmabufToken(2, 1).pack()
    assert devmem.conn.setsockopt(SOL, DONTNEED, data) == 4
    assert devmem.conn.tokens_held == 4
    assert devmem.binding.inflight == 4 + 8  # held, and posted to the rx ring
    assert devmem.conn.setsockopt(SOL, DONTNEED, b"\0" * 8 * 128) == 0
    with pytest.raises(OSError) as e:
        devmem.conn.setsockopt(SOL, DONTNEED, b"\0" * (8 * 128 + 8))
    assert e.value.errno == 22


def test_frag_cap_counts_ranges_in_order():
    lab = Lab(seed=0)
    steer(lab.server)
    binding = bind(lab.server, lab.server.udmabuf_create(2048 * 4096), [15])
    _, cs, conn = connect(lab)
    cs.sendall(b"\1" * (1100 * MSS))
    assert tokens(conn, 1100) == list(range(1, 1101))
    # 1024 frags examined in all: 1000 of the first range, 24 of the second
    data = DmabufToken(1, 1000).pack() + DmabufToken(1001, 100).pack()
    assert conn.setsockopt(SOL, DONTNEED, data) == 1024
    assert conn.tokens_held == 76
    assert binding.inflight == 76 + 8  # held, and posted to the rx ring
    assert dontneed(conn, [1024, 1025]) == 1 and conn.tokens_held == 75


# ---- the pure-state class (devmem_lab/kernel/tcp/token_table.py), against a reference model


A, B = object(), object()  # two bindings: opaque keys to the table

# a program: ("alloc", binding, n net_iovs) or ("free", ranges of (start, count), cap)
_alloc = st.tuples(st.just("alloc"), st.sampled_from([A, B]), st.integers(1, 300))
_range = st.tuples(st.one_of(st.integers(0, 700), st.integers(U32 - 5, U32)),
                   st.integers(0, 400))
_free = st.tuples(st.just("free"), st.lists(_range, max_size=4),
                  st.sampled_from([None, 1, 50, 1024]))


def _model_free(held: dict, ranges, cap):
    """sock_devmem_dontneed over a dict token -> (binding, niov), token by token."""
    out, examined = [], 0
    for start, count in ranges:
        for i in range(count):
            if cap is not None and examined >= cap:
                return out
            examined += 1
            tok = (start + i) & U32
            if tok in held:
                out.append(held.pop(tok))
    return out


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.lists(st.one_of(_alloc, _free), max_size=25))
def test_token_table_matches_a_token_by_token_model(program):
    table, held, niov = TokenTable(), {}, 0
    for op in program:
        if op[0] == "alloc":
            _, binding, n = op
            niovs = np.arange(niov, niov + n, dtype=np.int64)
            niov += n
            free = [t for t in range(1, max(held, default=0) + n + 2) if t not in held][:n]
            assert table.alloc(binding, niovs).tolist() == free  # the lowest free, in order
            held.update({t: (binding, int(v)) for t, v in zip(free, niovs.tolist())})
        else:
            _, ranges, cap = op
            want = _model_free(held, ranges, cap)
            got = table.free(table.named(ranges, cap))
            back = sorted((id(b), v) for b, niovs in got for v in niovs.tolist())
            assert back == sorted((id(b), v) for b, v in want)
            assert all(b in (A, B) for b, _ in got)
        assert len(table) == table.count == len(held)
        for binding in (A, B):
            assert sorted(table.held_by(binding).tolist()) == \
                sorted(v for b, v in held.values() if b is binding)
        # the search bounds stay true: tokens below `lo` are held, none at or above `top`
        assert all(t in held for t in range(1, table.lo)) and max(held, default=0) < table.top


def test_token_table_free_all_and_growth():
    table = TokenTable()
    assert table.alloc(A, np.arange(100, dtype=np.int64)).tolist() == list(range(1, 101))
    assert len(table.niov) == 128  # grown from 64 by doubling
    got = table.free(table.named([(10, 5)]))
    assert [(b, v.tolist()) for b, v in got] == [(A, [9, 10, 11, 12, 13])]
    assert table.lo == 10 and table.top == 101 and len(table) == 95
    assert table.alloc(B, np.array([7, 8], dtype=np.int64)).tolist() == [10, 11]
    rest = table.free_all()
    assert [(b, len(v)) for b, v in rest] == [(A, 95), (B, 2)]
    assert len(table) == 0 and table.free_all() == []
